import { CHANNELS, RetryLater, reconcileExecutions, runExecution, sweepWorkspaces } from '@ccl/core';
import type { ExecutionWorker } from '@ccl/queue';
import type { Logger } from 'pino';
import type { Runtime } from './runtime.ts';

export interface WorkerRole {
  worker: ExecutionWorker;
  close(): Promise<void>;
}

/**
 * Takes jobs (execution ids) and runs them; cancel requests for executions this
 * worker holds arrive over pub/sub and abort the runner's signal.
 */
export async function startWorkerRole(rt: Runtime, log: Logger): Promise<WorkerRole> {
  const worker = rt.queue.createWorker({
    concurrency: rt.config.WORKER_CONCURRENCY,
    handler: async (executionId, job) => {
      try {
        await runExecution(rt.deps, executionId, job);
      } catch (err) {
        if (err instanceof RetryLater) throw err;
        log.error({ err, executionId }, 'execution handler crashed');
        throw err;
      }
    },
    onFailed: (executionId, err, willRetry) =>
      log.warn({ executionId, err: err.message, willRetry }, 'job failed'),
  });
  const unsubscribe = await rt.notifier.subscribe(CHANNELS.cancel, (executionId) => {
    if (worker.cancel(executionId)) log.info({ executionId }, 'cancel delivered to runner');
  });
  // Every worker reconciles; the checks are idempotent, so several workers doing it at once is harmless.
  const reconcile = async () => {
    await reconcileExecutions(rt.deps).catch((err) =>
      log.warn({ err: (err as Error).message }, 'reconcile failed'),
    );
    await sweepWorkspaces(rt.deps).catch((err) =>
      log.warn({ err: (err as Error).message }, 'workspace sweep failed'),
    );
  };
  const reconciler = setInterval(reconcile, rt.config.RECONCILE_INTERVAL_S * 1000);
  reconciler.unref();
  void reconcile();
  log.info({ concurrency: rt.config.WORKER_CONCURRENCY, backend: rt.queue.backend }, 'worker started');
  return {
    worker,
    async close() {
      clearInterval(reconciler);
      await unsubscribe();
      await worker.close();
    },
  };
}
