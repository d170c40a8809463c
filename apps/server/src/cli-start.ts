import { loadConfig } from '@ccl/config';
import { openDatabase } from './database.ts';
import { createProcessLogger } from './log.ts';
import type { Role } from './server.ts';

/** `clawlink start`: runs a role until SIGINT/SIGTERM, then shuts down gracefully. */
export async function start(role: Role): Promise<void> {
  const cfg = loadConfig();
  const log = await createProcessLogger(cfg);
  // The (embedded) database starts while the server's modules load: both take a few hundred ms.
  const db = openDatabase(cfg, log);
  db.catch(() => undefined);
  const { startServer } = await import('./server.ts');
  const server = await startServer(cfg, log, role, process.stdout, db);
  if (server.url)
    process.stdout.write(`\n  CoderClawLink is ready at ${server.url}  (API docs: ${server.url}/docs)\n\n`);
  let firstSignalAt = 0;
  const shutdown = (signal: string) => {
    // A terminal's Ctrl-C reaches this process both directly and through npm; only a
    // second signal well after the first means "stop waiting".
    if (firstSignalAt) {
      if (Date.now() - firstSignalAt > 2000) {
        log.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      return;
    }
    firstSignalAt = Date.now();
    log.info({ signal }, 'shutting down');
    server.stop().then(
      () => process.exit(0),
      (err) => {
        log.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
}
