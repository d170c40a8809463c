import { type ExecutionState, Prisma } from '@ccl/db';
import { type AuditDeps, writeAudit } from './audit.ts';
import type { RequestCtx } from './context.ts';
import { type DatabaseRetryOptions, retryWhileDatabaseUnavailable } from './database-retry.ts';
import { CHANNELS, type CoreDeps, type ExecutionChange, type Tx } from './deps.ts';
import { InvalidState, NotFound } from './errors.ts';
import { canTransition, isTerminal } from './state-machine.ts';
import { storableJson } from './storable.ts';

export interface TransitionPatch {
  result?: unknown;
  error?: string | null;
  pendingApproval?: Record<string, unknown> | null;
  /** A parked run's runner state (set with WAITING), or null to forget it. */
  checkpoint?: Record<string, unknown> | null;
  /** Extra data stored on the state event. */
  eventData?: Record<string, unknown>;
}

interface LockedRow {
  state: ExecutionState;
  task_id: string;
}

async function lockExecution(tx: Tx, executionId: string): Promise<LockedRow> {
  const rows = await tx.$queryRaw<LockedRow[]>`
    SELECT state, task_id::text AS task_id FROM executions WHERE id = ${executionId}::uuid FOR UPDATE`;
  const row = rows[0];
  if (!row) throw new NotFound(`execution ${executionId} not found`);
  return row;
}

/**
 * Moves an execution to `to` if the state machine allows it, inside the caller's
 * transaction: row update, state event and audit row commit together.
 * Illegal moves throw InvalidState (HTTP 409).
 */
export async function transitionExecution(
  deps: AuditDeps,
  tx: Tx,
  ctx: RequestCtx,
  executionId: string,
  to: ExecutionState,
  rawPatch: TransitionPatch = {},
): Promise<ExecutionChange> {
  const patch: TransitionPatch = storableJson({ ...rawPatch });
  const { state: from, task_id: taskId } = await lockExecution(tx, executionId);
  if (!canTransition(from, to)) {
    throw new InvalidState(
      `execution ${executionId} cannot go from ${from.toLowerCase()} to ${to.toLowerCase()}`,
    );
  }
  const now = new Date();
  const data: Prisma.ExecutionUpdateInput = { state: to, eventSeq: { increment: 1 } };
  if (from === 'PENDING') data.startedAt = now;
  if (isTerminal(to)) data.finishedAt = now;
  if (patch.result !== undefined) data.result = patch.result as Prisma.InputJsonValue;
  if (patch.error !== undefined) data.error = patch.error;
  if (patch.pendingApproval !== undefined) {
    data.pendingApproval = (patch.pendingApproval ?? null) as Prisma.InputJsonValue;
  }
  if (patch.checkpoint !== undefined) {
    data.checkpoint = patch.checkpoint === null ? Prisma.DbNull : (patch.checkpoint as Prisma.InputJsonValue);
  }
  const updated = await tx.execution.update({ where: { id: executionId }, data, select: { eventSeq: true } });
  // A finished run puts its card up for review; only from In progress, so a card a person (or a PR's
  // delivery) already moved stays where it is. Failed and cancelled runs leave it, with their badge.
  if (to === 'COMPLETED') {
    await tx.task.updateMany({ where: { id: taskId, column: 'in_progress' }, data: { column: 'review' } });
  }
  await tx.executionEvent.create({
    data: {
      executionId,
      seq: updated.eventSeq,
      type: 'state',
      data: {
        from: from.toLowerCase(),
        to: to.toLowerCase(),
        ...(patch.eventData ?? {}),
      } as Prisma.InputJsonValue,
    },
  });
  await writeAudit(deps, tx, ctx, {
    action: 'execution.transition',
    resourceType: 'execution',
    resourceId: executionId,
    outcome: 'ALLOWED',
    detail: {
      from: from.toLowerCase(),
      to: to.toLowerCase(),
      ...(patch.error ? { error: patch.error.slice(0, 500) } : {}),
    },
  });
  return { executionId, taskId, seq: updated.eventSeq, state: to };
}

interface AppendedRow {
  seq: number;
  taskId: string;
  state: string;
  cancelRequested: boolean;
}

/**
 * Appends a non-state event (message, progress, tool call…) and tells whether a cancel was requested
 * meanwhile. One statement, atomic on its own: runners write an event for every step they take, and
 * an interactive transaction would cost four round trips each. The row lock the UPDATE takes orders
 * concurrent appends, so seq stays gap-free. Only workers append events: a busy or unreachable
 * database is waited for (database-retry.ts) rather than failing the run.
 */
export async function appendEvent(
  deps: Pick<CoreDeps, 'prisma'>,
  executionId: string,
  type: string,
  rawData: Record<string, unknown>,
  usage?: Record<string, unknown>,
): Promise<ExecutionChange & { cancelRequested: boolean }> {
  const data = JSON.stringify(storableJson(rawData));
  // Timestamps are stored as UTC wall time, as Prisma writes them (not the session's time zone).
  const now = new Date().toISOString();
  const rows = await retryWhileDatabaseUnavailable(
    () => deps.prisma.$queryRaw<AppendedRow[]>`
    WITH bumped AS (
      UPDATE executions
      SET event_seq = event_seq + 1,
          usage = COALESCE(${usage ? JSON.stringify(usage) : null}::jsonb, usage),
          updated_at = ${now}::timestamptz AT TIME ZONE 'UTC'
      WHERE id = ${executionId}::uuid
      RETURNING event_seq, task_id, state, cancel_requested_at),
    added AS (
      INSERT INTO execution_events (execution_id, seq, type, data, created_at)
      SELECT ${executionId}::uuid, event_seq, ${type}, ${data}::jsonb, ${now}::timestamptz AT TIME ZONE 'UTC'
      FROM bumped)
    SELECT event_seq AS seq, task_id::text AS "taskId", state::text AS state,
           cancel_requested_at IS NOT NULL AS "cancelRequested"
    FROM bumped`,
  );
  const row = rows[0];
  if (!row) throw new NotFound(`execution ${executionId} not found`);
  return { executionId, ...row };
}

/** Tells live listeners (SSE, caches) after the commit. A lost notification only delays them: the rows are the truth. */
export async function publishChange(deps: CoreDeps, change: ExecutionChange): Promise<void> {
  try {
    await deps.bus.publish(CHANNELS.execution, JSON.stringify(change));
  } catch (err) {
    deps.log.warn({ err, executionId: change.executionId }, 'could not publish execution change');
  }
}

/**
 * A card changed without any of its runs changing (edited, moved, assigned, claimed, created
 * without a run): boards re-read it. Like publishChange, a failure is logged, never thrown.
 */
export async function publishTaskChange(deps: CoreDeps, taskId: string): Promise<void> {
  try {
    await deps.bus.publish(CHANNELS.task, JSON.stringify({ taskId }));
  } catch (err) {
    deps.log.warn({ err, taskId }, 'could not publish task change');
  }
}

/**
 * Performs one transition in its own transaction, then publishes it. A busy or unreachable database
 * is tried again for up to `retryMs` (a minute by default: a run's moves wait rather than fail the
 * run); a request passes 0 and answers 503 at once instead.
 */
export async function transitionAndPublish(
  deps: CoreDeps,
  ctx: RequestCtx,
  executionId: string,
  to: ExecutionState,
  patch?: TransitionPatch,
  { retryMs }: Pick<DatabaseRetryOptions, 'retryMs'> = {},
): Promise<ExecutionChange> {
  const change = await retryWhileDatabaseUnavailable(
    async (tryNumber) => {
      try {
        return await deps.prisma.$transaction((tx) =>
          transitionExecution(deps, tx, ctx, executionId, to, patch),
        );
      } catch (err) {
        // A connection lost while committing leaves the outcome unknown: the next try may find it made.
        if (tryNumber > 1 && err instanceof InvalidState) {
          const made = await madeAlready(deps, executionId, to);
          if (made) return made;
        }
        throw err;
      }
    },
    {
      retryMs,
      onRetry: (err, tryNumber) => {
        if (tryNumber === 1)
          deps.log.warn(
            { executionId, to, err: err.message },
            'the database is busy or away: the transition waits',
          );
      },
    },
  );
  await publishChange(deps, change);
  return change;
}

async function madeAlready(
  deps: CoreDeps,
  executionId: string,
  to: ExecutionState,
): Promise<ExecutionChange | null> {
  const row = await deps.prisma.execution.findUnique({
    where: { id: executionId },
    select: { state: true, taskId: true, eventSeq: true },
  });
  return row?.state === to ? { executionId, taskId: row.taskId, seq: row.eventSeq, state: to } : null;
}
