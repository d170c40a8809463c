import type { Execution, ExecutionState } from '@ccl/db';
import { type RequestCtx, systemCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { InvalidState } from './errors.ts';
import { appendEvent, transitionAndPublish } from './execution-store.ts';

export interface ReconcileResult {
  requeued: string[];
  failed: string[];
  /** Parked jobs woken because what they waited for is over. */
  woken: string[];
  /** Another process was reconciling the same queue: this round did nothing. */
  skipped: boolean;
}

/** Executions this old without a live job are considered lost (younger ones may be mid-enqueue). */
const GRACE_MS = 15_000;

/** First key of the reconciler's advisory lock; the second is the queue's name, hashed. */
const RECONCILER_LOCK = 0x7e1e_7ec0;

/** A round holds its lock at most this long (its transaction's timeout); rounds take far less. */
const ROUND_TIMEOUT_MS = 5 * 60_000;

/**
 * Postgres is the truth and the queue only delivers: compares the two and repairs what a crash
 * lost. One process at a time: two rounds at once would both find a lost run and queue it twice,
 * each writing a `requeued` event. The lock is a transaction's (pg_try_advisory_xact_lock), so a
 * process killed mid-round frees it with its connection; a round that finds it taken is skipped.
 * The transaction only holds the lock (one pooled connection, for the round): the repairs commit
 * on their own as they go. A round looks at up to `limit` runs a worker should hold and `limit`
 * queued ones, each kind going on from where the last round's page ended (nextPage).
 */
export async function reconcileExecutions(
  deps: CoreDeps,
  opts: { graceMs?: number; limit?: number } = {},
): Promise<ReconcileResult> {
  return deps.prisma.$transaction(
    async (tx) => {
      const [lock] = await tx.$queryRaw<Array<{ taken: boolean }>>`
        SELECT pg_try_advisory_xact_lock(${RECONCILER_LOCK}::int, hashtext(${deps.config.QUEUE_NAME})) AS taken`;
      if (!lock?.taken) return { requeued: [], failed: [], woken: [], skipped: true };
      return reconcileRound(deps, opts);
    },
    { timeout: ROUND_TIMEOUT_MS },
  );
}

/**
 * A non-terminal execution whose job is gone, or finished while the run did not, is queued again.
 * A job that failed for good is one of two things. BullMQ fails a job on a real error only on its
 * last attempt (a run that ended on its own is already terminal, so this is a run that crashed
 * there): that execution is failed. It also fails, without any attempt used, a job whose workers
 * died more often than its `maxStalledCount`: the run was lost, not failed, and runs again. The
 * execution's `attempts`, which the run records as each attempt starts, tells the two apart.
 */
async function reconcileRound(
  deps: CoreDeps,
  opts: { graceMs?: number; limit?: number },
): Promise<ReconcileResult> {
  const ctx: RequestCtx = systemCtx('reconciler');
  const cutoff = new Date(Date.now() - (opts.graceMs ?? GRACE_MS));
  const limit = opts.limit ?? 500;
  // Runs a worker should hold first, then queued runs: a lost running run is not kept waiting
  // behind a backlog's pages.
  const candidates = [
    ...(await nextPage(deps, 'held', HELD_STATES, cutoff, limit)),
    ...(await nextPage(deps, 'queued', ['PENDING'], cutoff, limit)),
  ];
  const result: ReconcileResult = { requeued: [], failed: [], woken: [], skipped: false };
  for (let i = 0; i < candidates.length; i += STATE_LOOKUPS) {
    const chunk = candidates.slice(i, i + STATE_LOOKUPS);
    // Asked together, repaired one by one right after: a repair acts on a look a moment old.
    const looked = await Promise.all(
      chunk.map(async (exec) => ({ exec, job: await deps.queue.state(exec.id) })),
    );
    for (const { exec, job } of looked) await repair(deps, ctx, exec, job, result);
  }
  if (result.requeued.length || result.failed.length || result.woken.length)
    deps.log.warn(
      { requeued: result.requeued, failed: result.failed, woken: result.woken },
      'reconciled lost executions',
    );
  // Jobs finished long ago (the Postgres backend keeps them until here: queue-settings.ts), removed
  // by one process at a time, apart from the transactions that finish jobs. The repairs above looked
  // at the runs first, so no run loses a job they needed.
  await deps.queue
    .trimFinished?.()
    .catch((err: unknown) =>
      deps.log.warn({ err: (err as Error).message }, 'could not remove finished jobs from the queue'),
    );
  return result;
}

const HELD_STATES: ExecutionState[] = ['PLANNING', 'RUNNING', 'WAITING'];

/** Queue lookups a round has out at once. */
const STATE_LOOKUPS = 20;

type Candidate = Pick<Execution, 'id' | 'state' | 'attempts' | 'queueRank' | 'heldReason' | 'updatedAt'>;

/**
 * Where each kind of candidate's last page ended, by queue (one process reconciles one queue). Runs
 * that wait unchanged for their turn (a backlog) or their decision keep the oldest `updated_at`: read
 * from the oldest each round, the same first page was looked at forever and a lost run behind it
 * never. Each round reads the page after the last one's, and starts over after a short page.
 */
const pageEnds = new Map<string, { updatedAt: Date; id: string }>();

async function nextPage(
  deps: CoreDeps,
  kind: string,
  states: ExecutionState[],
  cutoff: Date,
  limit: number,
): Promise<Candidate[]> {
  const key = `${deps.config.QUEUE_NAME}:${kind}`;
  const after = pageEnds.get(key);
  const page = await deps.prisma.execution.findMany({
    where: {
      state: { in: states },
      updatedAt: { lt: cutoff },
      ...(after
        ? {
            OR: [
              { updatedAt: { gt: after.updatedAt } },
              { updatedAt: after.updatedAt, id: { gt: after.id } },
            ],
          }
        : {}),
    },
    select: { id: true, state: true, attempts: true, queueRank: true, heldReason: true, updatedAt: true },
    orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }],
    take: limit,
  });
  const last = page.at(-1);
  if (last && page.length === limit) pageEnds.set(key, { updatedAt: last.updatedAt, id: last.id });
  else pageEnds.delete(key);
  return page;
}

async function repair(
  deps: CoreDeps,
  ctx: RequestCtx,
  exec: Candidate,
  job: Awaited<ReturnType<CoreDeps['queue']['state']>>,
  result: ReconcileResult,
): Promise<void> {
  const lastAttempt = deps.config.EXECUTION_ATTEMPTS;
  if (job === 'delayed' && exec.state !== 'WAITING' && !exec.heldReason) {
    // A parked job whose wait is over (decided while its worker died between parking and looking
    // again), or a retry pause long past: delays are seconds, so 15 s untouched means stale.
    if (await deps.queue.wake(exec.id)) result.woken.push(exec.id);
    return;
  }
  if (job === 'waiting' || job === 'delayed' || job === 'active') return;
  if (job === 'failed' && exec.attempts >= lastAttempt) {
    try {
      await transitionAndPublish(deps, ctx, exec.id, 'FAILED', {
        error: `the run crashed on its last attempt (${exec.attempts} of ${lastAttempt}); the worker's log has the error`,
      });
      result.failed.push(exec.id);
    } catch (err) {
      if (!(err instanceof InvalidState)) throw err;
    }
    return;
  }
  await appendEvent(deps, exec.id, 'requeued', {
    reason: job === 'failed' ? 'the queue gave up on its job after its workers died' : `job ${job}`,
    state: exec.state.toLowerCase(),
  });
  // Back in its place among the projects' queued runs (its fair-share rank), if it had one.
  await deps.queue.enqueue(exec.id, exec.queueRank === null ? undefined : { priority: exec.queueRank });
  result.requeued.push(exec.id);
}
