import { type RequestCtx, systemCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { InvalidState } from './errors.ts';
import { appendEvent, publishChange, transitionAndPublish } from './execution-store.ts';

export interface ReconcileResult {
  requeued: string[];
  failed: string[];
}

/** Executions this old without a live job are considered lost (younger ones may be mid-enqueue). */
const GRACE_MS = 15_000;

/**
 * Postgres is the truth and the queue only delivers: compares the two and repairs
 * what a crash lost. A non-terminal execution whose job is gone is queued again;
 * one whose job failed for good (the worker died once too often) is failed.
 */
export async function reconcileExecutions(
  deps: CoreDeps,
  opts: { graceMs?: number; limit?: number } = {},
): Promise<ReconcileResult> {
  const ctx: RequestCtx = systemCtx('reconciler');
  const cutoff = new Date(Date.now() - (opts.graceMs ?? GRACE_MS));
  const candidates = await deps.prisma.execution.findMany({
    where: { state: { in: ['PENDING', 'PLANNING', 'RUNNING', 'WAITING'] }, updatedAt: { lt: cutoff } },
    select: { id: true, taskId: true, state: true },
    orderBy: { updatedAt: 'asc' },
    take: opts.limit ?? 500,
  });
  const result: ReconcileResult = { requeued: [], failed: [] };
  for (const exec of candidates) {
    const job = await deps.queue.state(exec.id);
    if (job === 'waiting' || job === 'delayed' || job === 'active') continue;
    if (job === 'failed') {
      try {
        await transitionAndPublish(deps, ctx, exec.id, 'FAILED', {
          error: 'the worker running it stopped and the job ran out of attempts',
        });
        result.failed.push(exec.id);
      } catch (err) {
        if (!(err instanceof InvalidState)) throw err;
      }
      continue;
    }
    // absent or completed while the row is not terminal: the job was lost before it could finish.
    const change = await appendEvent(deps, exec.id, 'requeued', {
      reason: `job ${job}`,
      state: exec.state.toLowerCase(),
    });
    await publishChange(deps, change);
    await deps.queue.enqueue(exec.id);
    result.requeued.push(exec.id);
  }
  if (result.requeued.length || result.failed.length)
    deps.log.warn({ ...result }, 'reconciled lost executions');
  return result;
}
