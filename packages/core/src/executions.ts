import type { TaskStateDto } from '@ccl/contracts';
import { assertNotOwnRun } from './approval-by-submitter.ts';
import { approvalRequestHash } from './approval-request.ts';
import { writeAudit } from './audit.ts';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import { CHANNELS, type CoreDeps } from './deps.ts';
import { executionTime, toEventDto, toExecutionDto, toTaskState } from './dto.ts';
import { InvalidState, NotFound } from './errors.ts';
import { transitionAndPublish, transitionExecution } from './execution-store.ts';
import { assertExecutionInReach, assertTaskInReach } from './project-scope.ts';
import type { CachedTaskState } from './read-cache.ts';
import { SUBMITTED_EXECUTION } from './runtime-task.ts';
import { isTerminal } from './state-machine.ts';
import { executionIdOf, taskIdOf } from './task-ref.ts';

/** The execution a runtime task_id means: the one it was submitted with (runtime-task.ts), not the latest. */
async function submittedExecutionOfTask(deps: CoreDeps, taskId: string) {
  const task = await deps.prisma.task.findUnique({
    where: { id: taskId },
    include: { project: { select: { slug: true } }, executions: SUBMITTED_EXECUTION },
  });
  const execution = task?.executions[0];
  if (!task || !execution) throw new NotFound(`task ${taskId} not found`);
  return { task, execution };
}

/** GET /api/runtime/tasks/:task_id/state — the execution the task was submitted with; the read CoderClaw polls. */
export async function getTaskState(deps: CoreDeps, ctx: RequestCtx, taskId: string): Promise<TaskStateDto> {
  await authorize(deps, ctx, 'task:view', { resourceType: 'task', resourceId: taskId });
  const state: CachedTaskState =
    deps.cache?.taskState(taskId) ??
    (await (deps.cache
      ? deps.cache.loadTaskState(taskId, () => submittedExecutionOfTask(deps, taskId))
      : submittedExecutionOfTask(deps, taskId)));
  // The submitter polling its own task (CoderClaw's hot path) needs no membership lookup.
  if (state.execution.userId !== ctx.actor.userId) await assertTaskInReach(deps, ctx, taskId);
  // Built once per cached read; of a running execution only execution_time moves with the clock.
  state.answer ??= toTaskState(state.execution, state.task);
  const answer = state.answer;
  const { startedAt, finishedAt } = state.execution;
  return startedAt && !finishedAt ? { ...answer, execution_time: executionTime(state.execution) } : answer;
}

/**
 * Asks an execution to stop. A PENDING one whose job is still queued is removed
 * and CANCELLED at once; a running one is told through pub/sub, and its worker
 * marks it CANCELLED once the runner has stopped. Terminal ones answer false.
 * Answers with the execution as the cancel left it: the caller needs task:cancel, not also task:view.
 */
export async function cancelExecution(deps: CoreDeps, ctx: RequestCtx, ref: string) {
  await authorize(deps, ctx, 'task:cancel', { resourceType: 'execution', resourceId: ref });
  const executionId = await executionIdOf(deps, ref);
  await assertExecutionInReach(deps, ctx, executionId, ref);
  const success = await requestCancel(deps, ctx, executionId);
  return { success, execution: await findExecution(deps, executionId) };
}

async function requestCancel(deps: CoreDeps, ctx: RequestCtx, executionId: string): Promise<boolean> {
  const outcome = await deps.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<Array<{ state: string }>>`
      SELECT state FROM executions WHERE id = ${executionId}::uuid FOR UPDATE`;
    const state = rows[0]?.state as Parameters<typeof isTerminal>[0] | undefined;
    if (!state) throw new NotFound(`execution ${executionId} not found`);
    if (isTerminal(state)) {
      await writeAudit(deps, tx, ctx, {
        action: 'execution.cancel',
        resourceType: 'execution',
        resourceId: executionId,
        outcome: 'FAILED',
        detail: { reason: `already ${state.toLowerCase()}` },
      });
      return 'terminal' as const;
    }
    await tx.execution.update({ where: { id: executionId }, data: { cancelRequestedAt: new Date() } });
    await writeAudit(deps, tx, ctx, {
      action: 'execution.cancel',
      resourceType: 'execution',
      resourceId: executionId,
      outcome: 'ALLOWED',
      detail: { state: state.toLowerCase() },
    });
    // A PENDING run may also be held (over its project's limit): its parked job is removed like a queued one.
    if (state === 'PENDING') return 'pending' as const;
    return state === 'WAITING' ? ('waiting' as const) : ('active' as const);
  });
  if (outcome === 'terminal') return false;
  if (outcome === 'pending' && (await deps.queue.remove(executionId))) {
    try {
      await transitionAndPublish(
        deps,
        ctx,
        executionId,
        'CANCELLED',
        { eventData: { reason: 'cancelled before it started' } },
        { retryMs: 0 },
      );
      return true;
    } catch (err) {
      // A worker took it between our lock and the removal; it sees cancel_requested_at and stops.
      if (!(err instanceof InvalidState)) throw err;
    }
  }
  await deps.bus.publish(CHANNELS.cancel, executionId);
  // A parked run (waiting for a decision without a worker) is woken to record its cancel.
  if (outcome === 'waiting') await deps.queue.wake(executionId);
  return true;
}

/** POST /api/runtime/tasks/:task_id/cancel — cancels the execution the task was submitted with. */
export async function cancelTask(deps: CoreDeps, ctx: RequestCtx, taskId: string) {
  await authorize(deps, ctx, 'task:cancel', { resourceType: 'task', resourceId: taskId });
  await assertTaskInReach(deps, ctx, taskId);
  const { execution } = await submittedExecutionOfTask(deps, taskId);
  return { success: await requestCancel(deps, ctx, execution.id), task_id: taskId };
}

async function findExecution(deps: CoreDeps, executionId: string) {
  const execution = await deps.prisma.execution.findUnique({ where: { id: executionId } });
  if (!execution) throw new NotFound(`execution ${executionId} not found`);
  return execution;
}

/** `ref`, here and below: the execution's id or its number (task-ref.ts). */
export async function getExecution(deps: CoreDeps, ctx: RequestCtx, ref: string) {
  await authorize(deps, ctx, 'task:view', { resourceType: 'execution', resourceId: ref });
  const executionId = await executionIdOf(deps, ref);
  await assertExecutionInReach(deps, ctx, executionId, ref);
  return toExecutionDto(await findExecution(deps, executionId));
}

export async function listTaskExecutions(deps: CoreDeps, ctx: RequestCtx, ref: string) {
  await authorize(deps, ctx, 'task:view', { resourceType: 'task', resourceId: ref });
  const taskId = await taskIdOf(deps, ref);
  await assertTaskInReach(deps, ctx, taskId, ref);
  if (!(await deps.prisma.task.findUnique({ where: { id: taskId }, select: { id: true } }))) {
    throw new NotFound(`task ${taskId} not found`);
  }
  const rows = await deps.prisma.execution.findMany({ where: { taskId }, orderBy: { createdAt: 'desc' } });
  return rows.map(toExecutionDto);
}

/** Events after `afterSeq`, oldest first; the SSE stream and its resume read through here. */
export async function listExecutionEvents(
  deps: CoreDeps,
  ctx: RequestCtx,
  ref: string,
  afterSeq = 0,
  limit = 500,
) {
  await authorize(deps, ctx, 'task:view', { resourceType: 'execution', resourceId: ref });
  const executionId = await executionIdOf(deps, ref);
  await assertExecutionInReach(deps, ctx, executionId, ref);
  const execution = await findExecution(deps, executionId);
  const events = await deps.prisma.executionEvent.findMany({
    where: { executionId, seq: { gt: afterSeq } },
    orderBy: { seq: 'asc' },
    take: limit,
  });
  return { execution: toExecutionDto(execution), events: events.map(toEventDto) };
}

/** POST /api/executions/:id/approve|deny — answers the pending request and resumes the run. */
export async function decideApproval(
  deps: CoreDeps,
  ctx: RequestCtx,
  ref: string,
  decision: {
    approved: boolean;
    comment?: string | undefined;
    /** Decide only if the pending request is still the one shown (approvalRequestHash); else InvalidState. */
    requestHash?: string | undefined;
  },
) {
  await authorize(deps, ctx, 'task:approve', { resourceType: 'execution', resourceId: ref });
  const executionId = await executionIdOf(deps, ref);
  await assertExecutionInReach(deps, ctx, executionId, ref);
  await assertNotOwnRun(deps, ctx, executionId, decision.approved);
  await deps.prisma.$transaction(async (tx) => {
    const execution = await tx.execution.findUnique({ where: { id: executionId } });
    if (!execution) throw new NotFound(`execution ${executionId} not found`);
    if (execution.state !== 'WAITING') {
      throw new InvalidState(
        `execution ${executionId} is ${execution.state.toLowerCase()}, not waiting for approval`,
      );
    }
    const request = (execution.pendingApproval ?? {}) as Record<string, unknown>;
    if (decision.requestHash !== undefined && decision.requestHash !== approvalRequestHash(request)) {
      throw new InvalidState(`execution ${executionId} is waiting on another request than the one shown`);
    }
    // A question about a limit names it: the run is not asked about it again (approvedLimits).
    const limit =
      request.kind === 'budget' ? (request.details as { limit?: unknown } | undefined)?.limit : undefined;
    const data = {
      request_id: request.id ?? null,
      ...(typeof limit === 'string' ? { limit } : {}),
      approved: decision.approved,
      comment: decision.comment ?? null,
      by: ctx.actor.userId,
    };
    const moved = await transitionExecution(deps, tx, ctx, executionId, 'RUNNING', {
      pendingApproval: null,
      eventData: { decision: data },
    });
    await writeAudit(deps, tx, ctx, {
      action: decision.approved ? 'execution.approve' : 'execution.deny',
      resourceType: 'execution',
      resourceId: executionId,
      outcome: 'ALLOWED',
      detail: data,
    });
    return moved;
  });
  // A parked run has no worker: its job sleeps until the decision wakes it, on any worker.
  await deps.queue.wake(executionId);
  return toExecutionDto(await findExecution(deps, executionId));
}
