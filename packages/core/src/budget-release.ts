import type { Prisma } from '@ccl/db';
import { wakeHeld } from './admission.ts';
import { writeAudit } from './audit.ts';
import { budgetReached } from './budgets.ts';
import { type RequestCtx, systemCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { transitionExecution } from './execution-store.ts';

/** Who approves a budget stop that a raised budget released (the run then checks the new budget). */
export const BUDGET_RELEASE_ACTOR = 'system';

/** The monthly budgets a run waits on; a per-run `max_cost_usd` stop is released only by a person. */
const MONTHLY = ['project_budget', 'user_budget'];

/**
 * "Raising the budget releases what waits": runs WAITING on a monthly-budget stop (kind `budget`)
 * whose project and submitter both have budget left now are approved by the system, each in its
 * own transaction with an audit row naming the change that released it. A run waiting in its slot
 * hears the NOTIFY sent on commit (from any process, the CLI too) and goes on; a parked run's job is
 * woken here where there is a queue, else by the reconciler's next round. Called after a
 * project's settings or a user's budget change; returns how many runs went on.
 */
export async function releaseBudgetWaits(
  deps: Pick<CoreDeps, 'prisma' | 'audit'> & Partial<Pick<CoreDeps, 'queue'>>,
  changedBy: RequestCtx,
  where: { projectId: string } | { userId: string },
): Promise<number> {
  const scope: Prisma.ExecutionWhereInput =
    'projectId' in where ? { task: { projectId: where.projectId } } : { userId: where.userId };
  const waiting = await deps.prisma.execution.findMany({
    where: { state: 'WAITING', ...scope, pendingApproval: { path: ['kind'], equals: 'budget' } },
    select: { id: true },
  });
  const ctx = systemCtx(changedBy.requestId);
  let released = 0;
  for (const { id } of waiting) {
    const went = await deps.prisma.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<
        Array<{ state: string; pending: unknown; user_id: string; project_id: string; settings: unknown }>
      >`
        SELECT e.state::text AS state, e.pending_approval AS pending, e.user_id,
               t.project_id::text AS project_id, p.settings
          FROM executions e JOIN tasks t ON t.id = e.task_id JOIN projects p ON p.id = t.project_id
         WHERE e.id = ${id}::uuid FOR UPDATE OF e`;
      const row = rows[0];
      const request = (row?.pending ?? {}) as { id?: unknown; kind?: unknown; details?: { limit?: unknown } };
      if (row?.state !== 'WAITING' || request.kind !== 'budget') return false;
      if (!MONTHLY.includes(String(request.details?.limit))) return false;
      const still = await budgetReached(tx, {
        projectId: row.project_id,
        projectSettings: row.settings,
        userId: row.user_id,
      });
      if (still) return false;
      const reason = `${request.details?.limit === 'user_budget' ? "the user's" : "the project's"} monthly budget has room again`;
      const decision = {
        request_id: request.id ?? null,
        approved: true,
        comment: `released: ${reason}`,
        by: BUDGET_RELEASE_ACTOR,
      };
      await transitionExecution(deps, tx, ctx, id, 'RUNNING', {
        pendingApproval: null,
        eventData: { decision },
      });
      await writeAudit(deps, tx, ctx, {
        action: 'execution.approve',
        resourceType: 'execution',
        resourceId: id,
        outcome: 'ALLOWED',
        detail: { ...decision, reason, changed_by: changedBy.actor.userId },
      });
      // Its notice goes out on commit: the worker waiting on the run goes on, boards and bots re-read it.
      return true;
    });
    if (!went) continue;
    released += 1;
    // A run parked at its budget has no worker: its job sleeps until woken (else the reconciler's round).
    await deps.queue?.wake(id);
  }
  return released;
}

/**
 * After a user's budget changed: their runs waiting on it go on, and (where there is a queue) the
 * projects holding their runs look again now rather than at the held jobs' next look.
 */
export async function afterUserBudgetChange(
  deps: Pick<CoreDeps, 'prisma' | 'audit'> & Partial<Pick<CoreDeps, 'queue' | 'config' | 'log'>>,
  ctx: RequestCtx,
  userId: string,
): Promise<void> {
  await releaseBudgetWaits(deps, ctx, { userId });
  const { queue, config } = deps;
  if (!queue || !config) return;
  const held = await deps.prisma.execution.findMany({
    where: { state: 'PENDING', heldReason: { not: null }, userId },
    select: { task: { select: { projectId: true } } },
    distinct: ['taskId'],
  });
  for (const projectId of new Set(held.map((h) => h.task.projectId))) {
    await wakeHeld({ prisma: deps.prisma, config, queue }, projectId).catch((err) =>
      deps.log?.warn({ err: (err as Error).message, projectId }, 'could not wake held runs'),
    );
  }
}
