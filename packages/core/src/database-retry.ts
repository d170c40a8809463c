import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Prisma's codes for a database it cannot reach (P1001, P1002), that timed out or ended the
 * connection (P1008, P1017), and for a pool or a transaction start that timed out (P2024, P2028):
 * the same statement may well succeed in a moment.
 */
/** P2037: PostgreSQL has no connection left ("too many clients", SQLSTATE 53300), as busy as an empty pool. */
const UNAVAILABLE_CODES = new Set(['P1001', 'P1002', 'P1008', 'P1017', 'P2024', 'P2028', 'P2037']);

export function isDatabaseUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; meta?: unknown } | null | undefined;
  const code = e?.code;
  if (typeof code !== 'string') return false;
  if (UNAVAILABLE_CODES.has(code)) return true;
  // A raw query through Prisma's client fails as P2010 whatever the cause: the driver's kind tells.
  const kind = (e?.meta as { driverAdapterError?: { cause?: { kind?: unknown } } } | undefined)
    ?.driverAdapterError?.cause?.kind;
  return code === 'P2010' && kind === 'TooManyConnections';
}

/**
 * A timeout (P1008) or an ended connection (P1017) can come after the statement reached the
 * server: it may have committed. The others of UNAVAILABLE_CODES are raised before anything is sent.
 */
export function mayHaveCommitted(err: unknown): boolean {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return code === 'P1008' || code === 'P1017';
}

/**
 * How long a run's writes keep trying a busy or unreachable database before the error reaches the
 * run: a minute. Failing the run instead would turn a moment of load (a pool smaller than the
 * worker's concurrency, a lock held a little long) into a FAILED execution nobody asked for.
 */
export const RUN_WRITE_RETRY_MS = 60_000;
const FIRST_PAUSE_MS = 100;
const LONGEST_PAUSE_MS = 5_000;

export interface DatabaseRetryOptions {
  /** How long to keep trying; 0: once. Default RUN_WRITE_RETRY_MS. */
  retryMs?: number;
  /** Told of each failure that will be tried again (to log the first, say). */
  onRetry?: (err: Error, tryNumber: number) => void;
}

/**
 * Calls `write` again while it fails with isDatabaseUnavailable, pausing 100 ms, then twice as long
 * each time up to 5 s (each pause jittered, so that the writes a full pool turned away do not all
 * come back at once), until `retryMs` have passed; then, or on any other error, throws what it threw.
 * `write` gets its 1-based try number.
 */
export async function retryWhileDatabaseUnavailable<T>(
  write: (tryNumber: number) => Promise<T>,
  { retryMs = RUN_WRITE_RETRY_MS, onRetry }: DatabaseRetryOptions = {},
): Promise<T> {
  const deadline = Date.now() + retryMs;
  let pause = FIRST_PAUSE_MS;
  for (let tryNumber = 1; ; tryNumber++) {
    try {
      return await write(tryNumber);
    } catch (err) {
      const left = deadline - Date.now();
      if (!isDatabaseUnavailable(err) || left <= 0) throw err;
      onRetry?.(err as Error, tryNumber);
      await sleep(Math.min(left, pause / 2 + Math.random() * (pause / 2)));
      pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
    }
  }
}
