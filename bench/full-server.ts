// Our server (api role only, so load measures the request path), on the database given in argv.
import { loadConfig } from '@ccl/config';
import { createLogger } from '../apps/server/src/log.ts';
import { startServer } from '../apps/server/src/server.ts';

const config = loadConfig({
  DATABASE_URL: process.argv[2],
  REDIS_URL: process.argv[3] ?? '',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'silent',
  QUEUE_NAME: process.argv[4] ?? 'bench',
  AUDIT_HMAC_KEY: 'bench-audit-hmac-key-0123456789abcdef',
  // The limiter runs on every request as in production, with a ceiling the load never reaches.
  RATE_LIMIT_PER_MINUTE: '1000000',
});
const server = await startServer(config, createLogger(config), 'api', {
  write: () => true,
} as unknown as NodeJS.WritableStream);
process.stdout.write(`${JSON.stringify({ port: Number(new URL(server.url ?? '').port) })}\n`);
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
