import { loadConfig } from '@ccl/config';
import { openDatabase } from './database.ts';
import { createProcessLogger } from './log.ts';
import type { Role } from './server.ts';

/**
 * `clawlink start`: runs a role until SIGINT/SIGTERM, then shuts down gracefully. The signals are
 * heard from the first moment: the server answers /readyz before it has finished starting (its
 * worker starts after the listener), and a Ctrl-C then must not kill the process mid-start (exit 1,
 * the embedded PostgreSQL left running); the stop waits for the start and then runs as usual.
 */
export async function start(role: Role): Promise<void> {
  let server: { stop(): Promise<void> } | undefined;
  let log: Awaited<ReturnType<typeof createProcessLogger>> | undefined;
  let asked: string | undefined;
  let firstSignalAt = 0;
  const stop = (signal: string, running: { stop(): Promise<void> }) => {
    log?.info({ signal }, 'shutting down');
    running.stop().then(
      () => process.exit(0),
      (err) => {
        log?.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  const shutdown = (signal: string) => {
    // A terminal's Ctrl-C reaches this process both directly and through npm; only a
    // second signal well after the first means "stop waiting".
    if (firstSignalAt) {
      if (Date.now() - firstSignalAt > 2000) {
        log?.warn({ signal }, 'second signal: exiting now');
        process.exit(1);
      }
      return;
    }
    firstSignalAt = Date.now();
    if (server) stop(signal, server);
    else asked = signal;
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);

  const cfg = loadConfig();
  log = await createProcessLogger(cfg);
  // The (embedded) database starts while the server's modules load: both take a few hundred ms.
  const db = openDatabase(cfg, log);
  db.catch(() => undefined);
  const { startServer } = await import('./server.ts');
  const started = await startServer(cfg, log, role, process.stdout, db);
  server = started;
  if (asked) {
    // Asked to stop while starting: now that it has started, it stops as it would have.
    stop(asked, started);
    return;
  }
  if (started.url)
    process.stdout.write(`\n  CoderClawLink is ready at ${started.url}  (API docs: ${started.url}/docs)\n\n`);
}
