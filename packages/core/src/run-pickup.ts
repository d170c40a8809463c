import { type Execution, Prisma, sqlOf } from '@ccl/db';
import { retryWhileDatabaseUnavailable } from './database-retry.ts';
import type { CoreDeps } from './deps.ts';
import { appendEvent } from './execution-store.ts';
import { isTerminal } from './state-machine.ts';

/**
 * A worker's hold on a run, kept on the execution row (PostgreSQL, not the queue), so that it
 * counts alike on both queue backends and after a reconciler's requeue.
 *
 * When a worker starts the run's agent it sets `picked_up_at`; when it lets go of the run (the run
 * ended or parked, its job went back to the queue on a shutdown or a retry) it clears it and adds
 * the time the pickup took to `worked_ms`. A pickup that finds the mark still set comes after a
 * worker that stopped while the agent ran (killed, out of memory, or its claim on the job expired):
 * a worker loss. The lost holder's time counts up to this pickup, since nobody knows when it died.
 * Time without a holder (parked for a decision, held by the project's limit, back in the queue
 * after a shutdown) is not the run's working time.
 *
 * A dead worker takes every run it held down with it, and a count of all losses blames the runs
 * that shared a worker with the culprit (20 SIGKILLs over 200 runs gave a bystander 10). Two things
 * tell them apart. A worker that dies while it is still setting the run up (probing, preparing the
 * workspace) was not killed by the agent: the mark is set only as the agent starts (with the move to
 * PLANNING for a run that has nothing to fetch or prepare before its agent starts). And a poison run
 * dies at the same point again and again while a bystander gets further: the run's next checkpoint
 * resets the count (run-execution.ts, saveProgress), so the limit is on losses in a row without
 * progress, and a run that does progress is bounded by EXECUTION_TIMEOUT_S, counted across pickups.
 */
export interface Pickup {
  /** Times in a row a worker stopped while running the run's agent, this pickup's finding included. */
  workerLosses: number;
  /** What is left of EXECUTION_TIMEOUT_S for this pickup, in ms (0 or less: none). */
  timeLeftMs: number;
  /** Why the run must end now instead of going on (too many worker losses, or out of time). */
  refusal: string | undefined;
  /** Marks the run as held while its agent runs: from here on, this worker dying is a loss. */
  agentStarting(): Promise<void>;
  /**
   * agentStarting's mark as SET clauses for a statement the run sends just before its agent starts
   * anyway (its workspace event): one round trip fewer. `done()` once that statement committed;
   * agentStarting then has nothing left to do.
   */
  startingMark(): MarkChange;
  /**
   * release's change as SET clauses for the run's last transition (to a terminal state). `done()`
   * once that committed; release then has nothing left to do.
   */
  releasing(): MarkChange;
  /** Lets go of the run; never throws. */
  release(): Promise<void>;
}

/** Columns of the execution row to set in a statement of the caller's, and what to note once it committed. */
export interface MarkChange {
  set: Prisma.Sql;
  done(): void;
}

/**
 * `worked_ms` is a 32-bit integer: a lost holder's span (no worker for days) is capped at 8 days,
 * past any EXECUTION_TIMEOUT_S, and one pickup adds at most 7 days (its timeout, or a wait that
 * holds its slot for APPROVAL_TIMEOUT_S).
 */
const MAX_WORKED_MS = 8 * 24 * 3600_000;
const MAX_PICKUP_MS = 7 * 24 * 3600_000;

/** How long letting go keeps trying an unreachable database; then the next pickup counts a loss. */
const RELEASE_RETRY_MS = 10_000;

export function executionTimeoutMessage(deps: Pick<CoreDeps, 'config'>): string {
  return `timed out after ${deps.config.EXECUTION_TIMEOUT_S} s (EXECUTION_TIMEOUT_S)`;
}

/**
 * Takes `execution` for this worker, counting a worker loss when the mark of a holder that never
 * let go is still set (and clearing it). Undefined when the run ended meanwhile. The mark is
 * cleared only if nobody changed it since it was read, so two pickups at once count one loss.
 */
export async function takeRun(
  deps: CoreDeps,
  execution: Execution,
  /** The mark already set with the run's start (admission.ts readAndStart), if it was. */
  markedAt: Date | null = null,
): Promise<Pickup | undefined> {
  const takenAt = Date.now();
  let row: Pick<Execution, 'state' | 'pickedUpAt' | 'workerLosses' | 'workedMs'> = execution;
  while (row.pickedUpAt) {
    const workedMs = Math.min(MAX_WORKED_MS, row.workedMs + Math.max(0, takenAt - row.pickedUpAt.getTime()));
    const workerLosses = row.workerLosses + 1;
    const { count } = await deps.prisma.execution.updateMany({
      where: { id: execution.id, pickedUpAt: row.pickedUpAt, workerLosses: row.workerLosses },
      data: { pickedUpAt: null, workerLosses, workedMs },
    });
    if (count === 1) {
      await appendEvent(deps, execution.id, 'worker_lost', {
        worker_losses: workerLosses,
        limit: deps.config.EXECUTION_MAX_WORKER_LOSSES,
        worked_s: Math.round(workedMs / 1000),
      });
      return pickup(deps, execution.id, takenAt, workedMs, workerLosses);
    }
    const again = await deps.prisma.execution.findUnique({
      where: { id: execution.id },
      select: { state: true, pickedUpAt: true, workerLosses: true, workedMs: true },
    });
    if (!again || isTerminal(again.state)) return undefined;
    row = again;
  }
  return pickup(deps, execution.id, takenAt, row.workedMs, row.workerLosses, markedAt);
}

function pickup(
  deps: CoreDeps,
  id: string,
  takenAt: number,
  workedMs: number,
  workerLosses: number,
  markedAt: Date | null = null,
): Pickup {
  const timeLeftMs = deps.config.EXECUTION_TIMEOUT_S * 1000 - workedMs;
  const refusal =
    workerLosses >= deps.config.EXECUTION_MAX_WORKER_LOSSES
      ? `its worker stopped ${workerLosses} times while running it, each time before the run got any further (EXECUTION_MAX_WORKER_LOSSES); not trying again`
      : timeLeftMs <= 0
        ? executionTimeoutMessage(deps)
        : undefined;
  let mark: Date | null = markedAt;
  let released = false;
  /** Stored as UTC wall time, as Prisma does. */
  const utc = (at: Date | null) => Prisma.sql`${at?.toISOString() ?? null}::timestamptz AT TIME ZONE 'UTC'`;
  const markAt = (at: Date) => Prisma.sql`picked_up_at = ${utc(at)}, updated_at = ${utc(at)}`;
  /**
   * Only while the mark is this pickup's own (or none was set): a pickup that took the run over from
   * this one, its claim expired, counted this one's time already.
   */
  const own = () => Prisma.sql`picked_up_at IS NOT DISTINCT FROM (${utc(mark)})`;
  const held = () => Math.min(MAX_PICKUP_MS, Math.max(0, Date.now() - takenAt));
  return {
    workerLosses,
    timeLeftMs,
    refusal,
    async agentStarting() {
      if (mark) return;
      mark = new Date();
      // Raw (raw-sql.ts): every run marks and unmarks.
      await sqlOf(deps.prisma).query(
        Prisma.sql`UPDATE executions SET ${markAt(mark)} WHERE id = ${id}::uuid`,
      );
    },
    startingMark() {
      const at = new Date();
      return {
        set: Prisma.sql`picked_up_at = ${utc(at)}`,
        done: () => {
          mark = at;
        },
      };
    },
    releasing() {
      // As a part of another statement's SET, the condition goes into each value.
      const mine = own();
      return {
        set: Prisma.sql`picked_up_at = CASE WHEN ${mine} THEN NULL ELSE picked_up_at END,
          worked_ms = CASE WHEN ${mine} THEN worked_ms + ${held()}::int ELSE worked_ms END`,
        done: () => {
          released = true;
        },
      };
    },
    async release() {
      if (released) return;
      await retryWhileDatabaseUnavailable(
        () =>
          sqlOf(deps.prisma).query(Prisma.sql`
            UPDATE executions SET picked_up_at = NULL, worked_ms = worked_ms + ${held()}::int,
                                  updated_at = ${utc(new Date())}
            WHERE id = ${id}::uuid AND ${own()}`),
        { retryMs: RELEASE_RETRY_MS },
      ).catch((err) =>
        deps.log.warn(
          { executionId: id, err: (err as Error).message },
          'could not let go of the run; its next pickup will count a worker loss',
        ),
      );
    },
  };
}
