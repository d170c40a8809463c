import type { DefaultJobOptions } from 'bullmq';
import type { ExecutionQueueOptions } from './types.ts';

export interface QueueSettings {
  queueName: string;
  /** Redis key prefix. */
  prefix: string;
  /** Postgres schema holding BullMQ's tables. */
  schema: string;
  jobOptions: DefaultJobOptions;
  lockDurationMs: number;
  stalledIntervalMs: number;
  /** The workers' `maxStalledCount`: see MAX_STALLED_COUNT. */
  maxStalledCount: number;
  /** Postgres backend: finished jobs older than this are removed by trimFinished. */
  finishedJobsKeepMs: number;
  onError: (err: Error) => void;
}

/**
 * Finished jobs are only kept for inspection: Postgres holds the truth about executions, so the
 * Redis queue keeps the most recent ones and drops the rest as each job finishes. The Postgres
 * backend enforces such a count by deleting the oldest finished jobs in the transaction that
 * finishes a job, and two workers finishing at once deleted overlapping rows in different orders:
 * past the first 1000 jobs it deadlocked every few seconds at WORKER_CONCURRENCY=8 (`deadlock
 * detected`), every worker stood still for PostgreSQL's deadlock_timeout (1 s), and the aborted job
 * went back to the queue. There, finished jobs are kept FINISHED_JOBS_KEEP_MS instead, and removed
 * by the reconciler's round (one process at a time: trimFinished), never while a job finishes.
 */
const KEEP_FINISHED_JOBS = 1000;
const FINISHED_JOBS_KEEP_MS = 10 * 60_000;

/**
 * How often a job may come back from a dead worker before BullMQ fails it ("job stalled more than
 * allowable limit"). BullMQ's default, 1, failed a run whose worker was killed twice, attempts
 * left or not: a dying worker says nothing about the run, so its stalls must never end it. Finite
 * only because the Postgres backend keeps the count in an integer column.
 */
export const MAX_STALLED_COUNT = 1_000_000;

export function resolveSettings(opts: ExecutionQueueOptions): QueueSettings {
  if (!Number.isInteger(opts.attempts) || opts.attempts < 1) {
    throw new Error(`attempts must be a positive integer, got ${opts.attempts}`);
  }
  const prefix = opts.prefix ?? 'clawlink';
  return {
    queueName: opts.queueName,
    prefix,
    schema: schemaFor(prefix),
    jobOptions: {
      attempts: opts.attempts,
      backoff: { type: 'exponential', delay: opts.backoffMs ?? 1000 },
      removeOnComplete: opts.redisUrl ? { count: KEEP_FINISHED_JOBS } : false,
      removeOnFail: opts.redisUrl ? { count: KEEP_FINISHED_JOBS } : false,
    },
    // A dead worker's job returns after roughly lockDuration + stalledInterval (see README);
    // the lock is renewed every lockDuration / 2, so a live worker never loses it.
    lockDurationMs: opts.lockDurationMs ?? 30_000,
    stalledIntervalMs: opts.stalledIntervalMs ?? 5_000,
    maxStalledCount: MAX_STALLED_COUNT,
    finishedJobsKeepMs: opts.finishedJobsKeepMs ?? FINISHED_JOBS_KEEP_MS,
    onError: opts.onError ?? ((err) => console.error('[queue]', err)),
  };
}

/** BullMQ accepts only plain identifiers of at most 63 characters as schema names. */
function schemaFor(prefix: string): string {
  const safe = prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  return `bullmq_${safe}`.slice(0, 63);
}
