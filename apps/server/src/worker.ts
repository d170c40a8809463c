import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import {
  beatWorker,
  CHANNELS,
  forgetWorker,
  isDatabaseUnavailable,
  processPendingDeliveries,
  reconcileExecutions,
  sweepWorkspaces,
  type WorkerIdentity,
} from '@ccl/core';
import type { ExecutionWorker } from '@ccl/queue';
import type { Logger } from 'pino';
import { executionHandler } from './execution-handler.ts';
import type { Runtime } from './runtime.ts';

export interface WorkerRole {
  worker: ExecutionWorker;
  close(): Promise<void>;
}

/**
 * Takes jobs (execution ids) and runs them; cancel requests for executions this
 * worker holds arrive over pub/sub and abort the runner's signal. A heartbeat row in
 * `workers` tells the Queue page this process is alive and how busy it is.
 */
export async function startWorkerRole(rt: Runtime, log: Logger, role: string): Promise<WorkerRole> {
  const runs = executionHandler(rt, log);
  const worker = rt.queue.createWorker({
    concurrency: rt.config.WORKER_CONCURRENCY,
    handler: runs.handle,
    // A run whose database went away mid-step comes back in a few seconds, its attempts untouched.
    retryLaterOn: isDatabaseUnavailable,
    onFailed: (executionId, err, willRetry) => runs.onFailed(executionId, err, willRetry),
  });
  try {
    await worker.ready();
  } catch (err) {
    await worker.close().catch(() => undefined);
    throw err;
  }
  const unsubscribe = await rt.notifier.subscribe(CHANNELS.cancel, (executionId) => {
    if (worker.cancel(executionId)) runs.logOf(executionId).info({}, 'cancel delivered to runner');
  });
  // Every worker tries; one process at a time reconciles (an advisory lock), the others skip the round.
  const reconcile = async () => {
    await reconcileExecutions(rt.deps).catch((err) =>
      log.warn({ err: (err as Error).message }, 'reconcile failed'),
    );
    await sweepWorkspaces(rt.deps).catch((err) =>
      log.warn({ err: (err as Error).message }, 'workspace sweep failed'),
    );
    // GitHub deliveries an API process stored but stopped before handling.
    await processPendingDeliveries(rt.deps).catch((err) =>
      log.warn({ err: (err as Error).message }, 'GitHub delivery sweep failed'),
    );
  };
  const reconciler = setInterval(reconcile, rt.config.RECONCILE_INTERVAL_S * 1000);
  reconciler.unref();
  void reconcile();
  const heartbeat = await startHeartbeat(rt, log, role, () => worker.running().length);
  log.info(
    { concurrency: rt.config.WORKER_CONCURRENCY, backend: rt.queue.backend, workerId: heartbeat.id },
    'worker started',
  );
  return {
    worker,
    async close() {
      clearInterval(reconciler);
      await unsubscribe();
      // Running executions get SHUTDOWN_GRACE_S to finish; then they go back to the queue.
      const grace = setTimeout(() => {
        const left = worker.running();
        if (left.length)
          log.warn({ executions: left }, 'shutdown grace over: running executions go back to the queue');
        worker.requeueRunning();
      }, rt.config.SHUTDOWN_GRACE_S * 1000);
      try {
        await worker.close();
      } finally {
        clearTimeout(grace);
      }
      // Only once the running jobs are done: while it drains them the worker keeps beating.
      await heartbeat.stop();
    },
  };
}

/**
 * Beats once before the worker counts as started, then every WORKER_HEARTBEAT_S; a failed beat is
 * logged and the next one tries again.
 */
async function startHeartbeat(rt: Runtime, log: Logger, role: string, running: () => number) {
  const me: WorkerIdentity = {
    id: randomUUID(),
    host: hostname(),
    pid: process.pid,
    role,
    queueName: rt.config.QUEUE_NAME,
    concurrency: rt.config.WORKER_CONCURRENCY,
  };
  const beat = () =>
    beatWorker(rt.deps, me, running()).catch((err) =>
      log.warn({ err: (err as Error).message }, 'worker heartbeat failed'),
    );
  let inFlight = beat();
  await inFlight;
  const timer = setInterval(() => {
    inFlight = beat();
  }, rt.config.WORKER_HEARTBEAT_S * 1000);
  timer.unref();
  return {
    id: me.id,
    /** Stops beating and removes the row, so a graceful stop never shows as a stale worker. */
    async stop() {
      clearInterval(timer);
      // A beat still in flight must not re-insert the row after it is deleted.
      await inFlight;
      await forgetWorker(rt.deps, me.id).catch((err) =>
        log.warn({ err: (err as Error).message }, 'could not remove the worker heartbeat'),
      );
    },
  };
}
