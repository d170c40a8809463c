import { type BackendClasses, DelayedError, type IQueueBackend, WaitingError } from 'bullmq';
import type { ExecutionJobData, ExecutionJobName } from './execution-job.ts';
import { handlerError, isUnrecoverable, toJobError } from './permanent-failure.ts';
import type { QueueSettings } from './queue-settings.ts';
import type { CreateWorkerOptions, ExecutionWorker, ParkRequest } from './types.ts';

/** How long a job whose handler hit `retryLaterOn` trouble waits before it runs again. */
const INFRASTRUCTURE_RETRY_MS = 5_000;

/** Starts a BullMQ worker of either backend that feeds execution ids to `opts.handler`. */
export function startExecutionWorker<B extends IQueueBackend, C>(
  WorkerClass: BackendClasses<B, C>['Worker'],
  connection: C,
  settings: QueueSettings,
  opts: CreateWorkerOptions,
): ExecutionWorker {
  const running = new Set<string>();
  // Aborted when a shutdown's grace time is over: running jobs go back to the queue.
  const stopping = new AbortController();
  const worker = new WorkerClass<ExecutionJobData, void, ExecutionJobName>(
    settings.queueName,
    // BullMQ creates an AbortSignal (for cancelJob) only for processors declaring a third parameter.
    async (job, token, jobSignal) => {
      if (!jobSignal) throw new Error('BullMQ passed no AbortSignal to the processor');
      const signal = AbortSignal.any([jobSignal, stopping.signal]);
      const { executionId } = job.data;
      // attemptsMade counts finished attempts only, so a job recovered from a dead worker keeps its number.
      const attempt = job.attemptsMade + 1;
      running.add(executionId);
      let parked: ParkRequest['park'] | undefined;
      try {
        const outcome = await opts.handler(executionId, {
          signal,
          attempt,
          isFinalAttempt: attempt >= (job.opts.attempts ?? 1),
        });
        parked = outcome?.park;
      } catch (err) {
        if (stopping.signal.aborted && !jobSignal.aborted) {
          // Back to the queue as it was, its attempts untouched: another worker starts it again.
          await job.moveToWait(token);
          throw new WaitingError();
        }
        if (!signal.aborted && opts.retryLaterOn?.(err)) {
          // Trouble outside the run (its database unreachable): tried again shortly, no attempt used.
          await job.moveToDelayed(Date.now() + INFRASTRUCTURE_RETRY_MS, token);
          throw new DelayedError();
        }
        throw toJobError(err, signal.aborted);
      } finally {
        running.delete(executionId);
      }
      if (parked) {
        // The slot is free once the processor ends; the job sleeps as a delayed job, attempts kept.
        await job.moveToDelayed(Math.max(parked.until, Date.now() + 1), token);
        if (!(await parked.stillWaiting().catch(() => true))) await job.promote().catch(() => undefined);
        throw new DelayedError();
      }
    },
    {
      connection,
      prefix: settings.prefix,
      concurrency: opts.concurrency,
      lockDuration: settings.lockDurationMs,
      stalledInterval: settings.stalledIntervalMs,
      maxStalledCount: settings.maxStalledCount,
    },
  );
  worker.on('error', settings.onError);
  const { onFailed } = opts;
  if (onFailed) {
    // 'failed' fires after BullMQ stored the outcome, when attemptsMade already includes this attempt.
    worker.on('failed', (job, err) => {
      // No job: the stalled checker failed it and removeOnFail already dropped it; no handler ran.
      if (!job) return;
      const willRetry = !isUnrecoverable(err) && job.attemptsMade < (job.opts.attempts ?? 1);
      onFailed(job.data.executionId, handlerError(err), willRetry);
    });
  }
  return {
    cancel: (executionId) => running.has(executionId) && worker.cancelJob(executionId),
    running: () => [...running],
    close: () => worker.close(),
    requeueRunning: () => stopping.abort(new WorkerShutdown()),
    ready: async () => {
      await worker.waitUntilReady();
    },
  };
}

/** The abort reason a handler sees when its worker shuts down: stop, and leave the run as it is. */
export class WorkerShutdown extends Error {
  override name = 'WorkerShutdown';
  constructor() {
    super('the worker is shutting down; the job goes back to the queue');
  }
}
