import {
  type BackendClasses,
  createPostgresBackend,
  createRedisBackend,
  type IQueueBackend,
  withBackend,
} from 'bullmq';
import { EXECUTION_JOB, type ExecutionJobData, type ExecutionJobName } from './execution-job.ts';
import { startExecutionWorker } from './execution-worker.ts';
import { COUNTED_JOB_TYPES, isUntaken, toExecutionJobCounts, toExecutionJobState } from './job-state.ts';
import { type QueueSettings, resolveSettings } from './queue-settings.ts';
import type { ExecutionQueue, ExecutionQueueOptions, ExecutionWorker, QueueBackend } from './types.ts';
import { withTimeout } from './with-timeout.ts';

/** Finished jobs one trimFinished removes at most, per state: a round stays short; the next goes on. */
const TRIM_LIMIT = 20_000;

/** /readyz must answer promptly even when a client would keep reconnecting forever. */
const PING_TIMEOUT_MS = 2_000;

export function createExecutionQueue(opts: ExecutionQueueOptions): ExecutionQueue {
  const settings = resolveSettings(opts);
  if (opts.redisUrl) {
    return openExecutionQueue('redis', withBackend(createRedisBackend), { url: opts.redisUrl }, settings);
  }
  const connection = { connectionString: opts.databaseUrl, schema: settings.schema, migrate: true };
  return openExecutionQueue('postgres', withBackend(createPostgresBackend), connection, settings);
}

const READY_TIMEOUT_MS = 30_000;

/** BullMQ's priorities run from 1 to 2^21. */
const MAX_PRIORITY = 2 ** 21;
function clampPriority(priority: number): number {
  return Math.min(MAX_PRIORITY, Math.max(1, Math.round(priority)));
}

/**
 * Waits for BullMQ's set-up of a queue or worker. The Postgres backend checks (or migrates) its
 * schema once and remembers the outcome: a connection PostgreSQL ends during that set-up leaves a
 * failed promise that every later query returns at once, and BullMQ's worker loop then retries
 * without pause, holding the event loop. Waiting for it at start turns that into a start that
 * fails with the reason. Redis connections reconnect and need no wait.
 */
async function readyWithin(waitUntilReady: () => Promise<unknown>, backend: QueueBackend) {
  if (backend !== 'postgres') return;
  await withTimeout(
    waitUntilReady(),
    READY_TIMEOUT_MS,
    `the Postgres queue backend was not ready within ${READY_TIMEOUT_MS / 1000} s`,
  );
}

/** Generic over the backend so that both get exactly the same behaviour. */
function openExecutionQueue<B extends IQueueBackend, C>(
  backend: QueueBackend,
  classes: BackendClasses<B, C>,
  connection: C,
  settings: QueueSettings,
): ExecutionQueue {
  const queue = new classes.Queue<ExecutionJobData, void, ExecutionJobName>(settings.queueName, {
    connection,
    prefix: settings.prefix,
    defaultJobOptions: settings.jobOptions,
  });
  queue.on('error', settings.onError);
  const workers = new Set<ExecutionWorker>();

  return {
    backend,
    async enqueue(executionId, opts) {
      // A finished job stays around (bounded) under its id, and BullMQ would ignore the add as a
      // duplicate; running the execution again (a retry, a reconciler) needs a fresh job.
      if (!opts?.fresh) {
        const current = await queue.getJobState(executionId);
        if (current === 'completed' || current === 'failed') await queue.remove(executionId);
      }
      const priority = opts?.priority === undefined ? {} : { priority: clampPriority(opts.priority) };
      await queue.add(EXECUTION_JOB, { executionId }, { jobId: executionId, ...priority });
    },
    async wake(executionId) {
      const job = await queue.getJob(executionId);
      if (!job || !(await job.isDelayed())) return false;
      try {
        await job.promote();
        return true;
      } catch {
        // A worker or another waker moved it meanwhile.
        return false;
      }
    },
    async remove(executionId) {
      if (!isUntaken(await queue.getJobState(executionId))) return false;
      // BullMQ answers 0 if a worker took and locked the job since the check above.
      return (await queue.remove(executionId)) === 1;
    },
    async state(executionId) {
      return toExecutionJobState(await queue.getJobState(executionId));
    },
    async counts() {
      return toExecutionJobCounts(await queue.getJobCounts(...COUNTED_JOB_TYPES));
    },
    async trimFinished() {
      // Redis drops finished jobs by count as each one finishes (queue-settings.ts).
      if (backend === 'redis') return 0;
      const removed = await Promise.all(
        (['completed', 'failed'] as const).map((type) =>
          queue.clean(settings.finishedJobsKeepMs, TRIM_LIMIT, type),
        ),
      );
      return removed.reduce((n, ids) => n + ids.length, 0);
    },
    async ping() {
      // One key or one row read: a count (getJobCountByTypes) reads every job of the queue on the
      // PostgreSQL backend, and submissions ping before they write.
      await withTimeout(
        queue.isPaused(),
        PING_TIMEOUT_MS,
        `${backend} queue backend did not answer within ${PING_TIMEOUT_MS} ms`,
      );
    },
    ready: () => readyWithin(() => queue.waitUntilReady(), backend),
    createWorker(opts) {
      const worker = startExecutionWorker(classes.Worker, connection, settings, opts);
      workers.add(worker);
      return {
        ...worker,
        async close() {
          await worker.close();
          workers.delete(worker);
        },
        ready: () => readyWithin(() => worker.ready(), backend),
      };
    },
    async close() {
      await Promise.all([...workers].map((worker) => worker.close()));
      await queue.close();
    },
  };
}
