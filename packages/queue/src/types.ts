export type QueueBackend = 'redis' | 'postgres';

export interface ExecutionQueueOptions {
  /** Always given; the Postgres backend keeps its queue tables here. */
  databaseUrl: string;
  /** When set, the queue lives in Redis (through ioredis); otherwise in BullMQ's Postgres backend on `databaseUrl`. */
  redisUrl?: string;
  queueName: string;
  /** Total attempts for transient failures, retried with exponential backoff. */
  attempts: number;
  /** Base backoff before the first retry; doubles on each further retry. Default 1000. */
  backoffMs?: number;
  /**
   * Isolates one deployment (or test run) from another: the Redis key prefix, and for
   * Postgres the schema `bullmq_<prefix>`. Default 'clawlink'.
   */
  prefix?: string;
  /** How long a worker's claim on a job lasts without renewal. Default 30000. */
  lockDurationMs?: number;
  /** How often workers look for jobs whose lock expired (a dead worker). Default 5000. */
  stalledIntervalMs?: number;
  /** Postgres backend: how long a finished job is kept before trimFinished removes it. Default 10 minutes. */
  finishedJobsKeepMs?: number;
  /** Receives background errors of the queue and its workers (lost locks, connection trouble). Default: console.error. */
  onError?: (err: Error) => void;
}

export interface ExecutionJobContext {
  signal: AbortSignal;
  /** 1-based; a job recovered from a dead worker keeps the attempt number it had. */
  attempt: number;
  /** True when a failure of this attempt will not be retried. */
  isFinalAttempt: boolean;
}

/**
 * What a handler returns to give its worker slot back while the execution waits (an approval, a
 * project's concurrency limit or budget): the job is parked as a delayed job until `until` (epoch
 * ms) or until `ExecutionQueue.wake`, whichever comes first, and keeps its attempts.
 */
export interface ParkRequest {
  park: {
    until: number;
    /**
     * Asked once the job is parked: false when what it waits for already happened (a decision made
     * while the job was being parked), and the job is woken at once. Closes the race between a
     * waker that found the job still active and the park.
     */
    stillWaiting(): Promise<boolean>;
  };
}

export type ExecutionHandler = (
  executionId: string,
  ctx: ExecutionJobContext,
  // biome-ignore lint/suspicious/noConfusingVoidType: most handlers return nothing; some ask to park.
) => Promise<void | ParkRequest>;

export interface CreateWorkerOptions {
  concurrency: number;
  handler: ExecutionHandler;
  /**
   * Errors that say nothing about the run (its database unreachable, a pool timeout): the job goes
   * back to the queue for a few seconds instead of using an attempt.
   */
  retryLaterOn?: (err: unknown) => boolean;
  /** Called after BullMQ recorded a failed attempt; `willRetry` tells whether another attempt follows. */
  onFailed?: (executionId: string, err: Error, willRetry: boolean) => void;
}

export interface ExecutionWorker {
  /** Aborts the handler's signal if this worker holds that job; false otherwise. */
  cancel(executionId: string): boolean;
  /** Execution ids this worker is processing now. */
  running(): string[];
  /** Stops taking jobs and waits for running handlers to finish; nothing is lost. */
  close(): Promise<void>;
  /** As ExecutionQueue.ready, for the worker's own connections. */
  ready(): Promise<void>;
  /**
   * Aborts the running handlers with a WorkerShutdown reason; each job they held goes back to the
   * queue (its attempts untouched) once its handler returns. For a shutdown's end of grace.
   */
  requeueRunning(): void;
}

export type ExecutionJobState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'absent';

export interface ExecutionJobCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
}

export interface ExecutionQueue {
  readonly backend: QueueBackend;
  /**
   * jobId = executionId and the job carries only that id; enqueuing a pending id again is a no-op.
   * `priority`: lower runs first (BullMQ's priority, 1 … 2^21); unset runs before any prioritized job.
   * `fresh`: the execution was just written, so no job of an earlier run of it can be in the way
   * (saves the look for one on every submit).
   */
  enqueue(executionId: string, opts?: { priority?: number; fresh?: boolean }): Promise<void>;
  /** Moves a parked (delayed) job back to the queue now; false when the job is not parked. */
  wake(executionId: string): Promise<boolean>;
  /** Removes a job no worker has taken yet; false if it is absent, active or finished. */
  remove(executionId: string): Promise<boolean>;
  state(executionId: string): Promise<ExecutionJobState>;
  counts(): Promise<ExecutionJobCounts>;
  /**
   * Removes jobs finished more than FINISHED_JOBS_KEEP_MS ago (up to a bound per call), on the
   * Postgres backend, where they are not dropped as they finish; 0 on Redis. Returns how many.
   */
  trimFinished(): Promise<number>;
  /** Throws if the backend does not answer (used by /readyz). */
  ping(): Promise<void>;
  /**
   * Resolves once the backend is set up (the Postgres backend's schema checked or migrated), so
   * that nothing later waits on a set-up that a dropped connection failed; throws after 30 s.
   */
  ready(): Promise<void>;
  createWorker(opts: CreateWorkerOptions): ExecutionWorker;
  /** Closes the workers created here (gracefully), then the queue. */
  close(): Promise<void>;
}
