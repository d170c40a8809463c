/**
 * PostgreSQL ending connections (a restart, a failover, `pg_terminate_backend`) must not end the
 * server: pools reconnect on their next query. pg reports such an end as an 'error' event on the
 * Client; a client that a library holds checked out between two queries has no listener for it
 * (BullMQ's Postgres backend does, while it bootstraps its schema), and Node turns an 'error'
 * event nobody listens to into an uncaught exception. This guard logs those and keeps running.
 * Every other uncaught exception still ends the process as before.
 */
const CONNECTION_ENDED = new Set([
  '57P01', // admin_shutdown: terminating connection due to administrator command
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
]);

export function isDroppedDatabaseConnection(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_ENDED.has(code)) return fromPg(err);
  return err.message === 'Connection terminated unexpectedly' || err.message === 'Connection terminated';
}

/** The error went through pg's client (its stack names pg's modules). */
function fromPg(err: Error): boolean {
  return /node_modules[/\\](\.pnpm[/\\][^/\\]+[/\\]node_modules[/\\])?pg(-protocol|-pool)?[/\\]/.test(
    err.stack ?? '',
  );
}

let installed = false;

export function guardDroppedDatabaseConnections(log: { warn(obj: object, msg?: string): void }): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtException', (err, origin) => {
    if (isDroppedDatabaseConnection(err)) {
      log.warn(
        { err: err.message, code: (err as { code?: unknown }).code },
        'a database connection ended; pools reconnect',
      );
      return;
    }
    // Anyone else listening (a test runner) decides; alone, end the process as Node would have.
    if (process.listenerCount('uncaughtException') > 1) return;
    process.stderr.write(`${origin}: ${err.stack ?? String(err)}\n`);
    process.exit(1);
  });
}
