import {
  type Logger as CoreLogger,
  isDatabaseUnavailable,
  type JobContext,
  jobCtx,
  RetryLater,
  readAndStart,
  runExecution,
} from '@ccl/core';
import type { Logger } from 'pino';
import type { Runtime } from './runtime.ts';

/** A line's fields; the message. The shape core's logger and pino share. */
type LogArgs = [obj: object, msg?: string];

/**
 * The logger of one run: every line carries `fields` (execution and user). Merged into the line's
 * own object rather than bound as a pino child, since a child writes a key twice when the line
 * names it too (core's lines name `executionId`), and some log stores refuse duplicate keys.
 */
export function boundLogger(log: Logger, fields: Record<string, unknown>): CoreLogger {
  // An Error's message and stack are not own enumerable keys: it goes under `err`, as pino would put it.
  const merge = ([obj, msg]: LogArgs): LogArgs => [
    obj instanceof Error ? { ...fields, err: obj } : { ...fields, ...obj },
    msg,
  ];
  return {
    info: (...args: LogArgs) => log.info(...merge(args)),
    warn: (...args: LogArgs) => log.warn(...merge(args)),
    error: (...args: LogArgs) => log.error(...merge(args)),
  };
}

/**
 * The worker's job: one execution, run with a logger bound to it and its submitter, so every line
 * written while it runs (the worker's and core's) says which run and whose; in a span continuing
 * its enqueue's trace when tracing is on.
 */
export function executionHandler(rt: Runtime, log: Logger) {
  /**
   * The loggers of the runs this worker holds, for lines about them from elsewhere (a cancel, the
   * queue's word that a job failed). A run that threw keeps its entry until that word comes; a throw
   * the queue does not count as a failure (a shutdown's requeue) keeps it until the process ends.
   */
  const running = new Map<string, CoreLogger>();

  async function handle(executionId: string, job: JobContext) {
    // The run's one read of its row: the log's and the trace's fields come from it, and the run starts
    // from it; a run that can start at once is moved to PLANNING by the same statement.
    const { read, started: startedRun } = await readAndStart(
      rt.deps,
      jobCtx(executionId, job.attempt),
      executionId,
      job.attempt,
    );
    const row = read?.execution;
    const runLog = boundLogger(log, { executionId, ...(row ? { userId: row.userId } : {}) });
    const started = performance.now();
    running.set(executionId, runLog);
    runLog.info({ attempt: job.attempt }, 'execution started');
    let threw = true;
    try {
      const run = () => runExecution({ ...rt.deps, log: runLog }, executionId, job, read, startedRun);
      const outcome =
        rt.tracing && row
          ? await rt.tracing.inRunSpan(
              {
                executionId,
                attempt: job.attempt,
                userId: row.userId,
                agentType: row.agentType,
                traceparent: row.traceparent,
              },
              run,
            )
          : await run();
      runLog.info({ ms: Math.round(performance.now() - started) }, 'execution handler done');
      threw = false;
      return outcome;
    } catch (err) {
      // A retry is the queue's to tell (onFailed, willRetry). A busy or unreachable database is no
      // crash: the worker puts the job back for a few seconds, no attempt used (retryLaterOn).
      if (isDatabaseUnavailable(err))
        runLog.warn(
          { err: (err as Error).message },
          'the database is busy or away: the run is tried again shortly',
        );
      else if (!(err instanceof RetryLater)) runLog.error({ err }, 'execution handler crashed');
      throw err;
    } finally {
      if (!threw) running.delete(executionId);
    }
  }

  /** The run's logger while this worker holds it; else one naming the execution only. */
  const logOf = (executionId: string): CoreLogger =>
    running.get(executionId) ?? boundLogger(log, { executionId });

  return {
    handle,
    logOf,
    /** The queue stored the job's failure: the last line about this attempt. */
    onFailed(executionId: string, err: Error, willRetry: boolean) {
      logOf(executionId).warn({ err: err.message, willRetry }, 'job failed');
      running.delete(executionId);
    },
  };
}
