// Our server (api role only, so load measures the request path), on the database given in argv.
// With `--team`: AUTH_MODE team, and the line it prints also carries credentials made for the bench:
// an API key (CoderClaw 2026.3's `authToken`) and an approved device's secret, both of user `bench`.
import { loadConfig } from '@ccl/config';
import { addUser, approveDevice, createApiKey } from '@ccl/core';
import { operatorCtx } from '../apps/server/src/cli-support.ts';
import { createLogger } from '../apps/server/src/log.ts';
import { startServer } from '../apps/server/src/server.ts';

const team = process.argv.includes('--team');
const [databaseUrl, redisUrl, queueName] = process.argv.slice(2).filter((a) => a !== '--team');
const config = loadConfig({
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisUrl ?? '',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'silent',
  QUEUE_NAME: queueName ?? 'bench',
  AUDIT_HMAC_KEY: 'bench-audit-hmac-key-0123456789abcdef',
  // The limiter runs on every request as in production, with a ceiling the load never reaches.
  RATE_LIMIT_PER_MINUTE: '1000000',
  ...(team ? { AUTH_MODE: 'team' } : {}),
});
const server = await startServer(config, createLogger(config), 'api', {
  write: () => true,
} as unknown as NodeJS.WritableStream);
const credentials = team ? await benchCredentials() : {};
process.stdout.write(`${JSON.stringify({ port: Number(new URL(server.url ?? '').port), ...credentials })}\n`);
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));

async function benchCredentials() {
  await addUser(server.deps, { id: 'bench', role: 'DEVELOPER' });
  const { key } = await createApiKey(server.deps, operatorCtx(), { userId: 'bench', name: 'bench' });
  const ref = { userId: 'bench', deviceId: 'laptop' };
  const { secret } = await approveDevice(server.deps, operatorCtx(), ref);
  return { key, secret };
}
