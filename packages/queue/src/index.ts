export { createExecutionQueue } from './execution-queue.ts';
export { WorkerShutdown } from './execution-worker.ts';
export { createNotifier, type Notifier, type NotifierOptions } from './notifier.ts';
export { PermanentFailure } from './permanent-failure.ts';
export type {
  CreateWorkerOptions,
  ExecutionHandler,
  ExecutionJobContext,
  ExecutionJobCounts,
  ExecutionJobState,
  ExecutionQueue,
  ExecutionQueueOptions,
  ExecutionWorker,
  ParkRequest,
  QueueBackend,
} from './types.ts';
