import { GENERAL_PURPOSE } from '@ccl/agents';
import type {
  NextTaskDto,
  RuntimeExecutionDto,
  StartRuntimeExecutionBody,
  SubmitTaskBody,
  TaskDto,
} from '@ccl/contracts';
import { Prisma, sqlOf } from '@ccl/db';
import { writeAudit } from './audit.ts';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { NotFound } from './errors.ts';
import { publishTaskChange } from './execution-store.ts';
import { cancelExecution } from './executions.ts';
import { assertExecutionInReach, assertTaskInReach, seesAllProjects } from './project-scope.ts';
import type { CachedRuntimeExecution } from './read-cache.ts';
import { type AnswerFields, answerOf, numbered, SESSION_KEY, toRuntimeExecution } from './runtime-answer.ts';
import { isTerminal } from './state-machine.ts';
import { startExecution } from './tasks.ts';

/**
 * CoderClaw 2026.3's runtime-executions API (docs/coderclaw.md): cards, executions and projects
 * by their numbers, and the run started through the same `startExecution` as every other start.
 */

/** Reach checks answer 404 naming the uuid; the caller asked by number, so the answer names that. */
async function byNumber<T>(what: string, check: Promise<T>): Promise<T> {
  try {
    return await check;
  } catch (err) {
    if (err instanceof NotFound) throw new NotFound(`${what} not found`);
    throw err;
  }
}

/** POST /api/runtime/executions: a run of card #taskId with `payload` as its prompt. */
export async function startRuntimeExecution(
  deps: CoreDeps,
  ctx: RequestCtx,
  input: Omit<StartRuntimeExecutionBody, 'agentId'>,
): Promise<RuntimeExecutionDto> {
  await authorize(deps, ctx, 'task:submit', { resourceType: 'task', resourceId: `#${input.taskId}` });
  const card = await deps.prisma.task.findUnique({
    where: { number: input.taskId },
    select: { id: true, number: true, agentType: true, context: true, project: { select: { number: true } } },
  });
  if (!card) throw new NotFound(`task #${input.taskId} not found`);
  await byNumber(`task #${input.taskId}`, assertTaskInReach(deps, ctx, card.id));
  // The card's agent and run settings, as a re-run from the board uses them.
  const context = {
    ...((card.context ?? {}) as SubmitTaskBody['context']),
    ...(input.sessionId ? { [SESSION_KEY]: input.sessionId } : {}),
  };
  const execution = await startExecution(deps, ctx, card.id, {
    prompt: input.payload,
    agent_type: card.agentType ?? GENERAL_PURPOSE,
    context,
    clawId: input.clawId,
  });
  return toRuntimeExecution({ ...execution, task: card });
}

type PolledRow = AnswerFields & { executionId: string; taskUuid: string; seq: number };

/**
 * The poll's cache miss: one statement reading the columns the answer needs and nothing else. Every
 * first poll of a run and every poll after a change misses (a backlog polled in turn is all first
 * polls), so this read is most of what such a poll costs; the Prisma read with includes it replaces
 * took three statements and parsed every column of the run (context, meta, usage, checkpoint…).
 */
async function loadRuntimeExecution(deps: CoreDeps, number: number): Promise<CachedRuntimeExecution | null> {
  // Raw on Prisma's pool (raw-sql.ts), prepared once per connection: a quarter of Prisma's CPU.
  const rows = await sqlOf(deps.prisma).query<PolledRow>(Prisma.sql`
    SELECT e.id::text AS "executionId", t.id::text AS "taskUuid", e.number, e.claw_id AS "clawId",
           e.user_id AS "userId", e.state::text AS state, e.prompt, e.result, e.error,
           e.started_at AS "startedAt", e.finished_at AS "finishedAt", e.created_at AS "createdAt",
           e.updated_at AS "updatedAt", e.event_seq AS seq,
           CASE WHEN jsonb_typeof(e.context -> ${SESSION_KEY}::text) = 'string'
                THEN e.context ->> ${SESSION_KEY}::text END AS "coderclawSession",
           t.number AS "taskNumber", p.number AS "projectNumber"
    FROM executions e JOIN tasks t ON t.id = e.task_id JOIN projects p ON p.id = t.project_id
    WHERE e.number = ${number}`);
  const row = rows[0];
  // With the seq it reflects, the answer follows the run's events without a read (ReadCache).
  return row
    ? { executionId: row.executionId, taskUuid: row.taskUuid, answer: answerOf(row), seq: row.seq }
    : null;
}

/** GET /api/runtime/executions/:id — polled once a second per run, so answered from the read cache. */
export async function getRuntimeExecution(
  deps: CoreDeps,
  ctx: RequestCtx,
  number: number,
): Promise<RuntimeExecutionDto> {
  await authorize(deps, ctx, 'task:view', { resourceType: 'execution', resourceId: `#${number}` });
  const cache = deps.cache;
  const found =
    cache?.runtimeExecution(number) ??
    (await (cache
      ? cache.loadRuntimeExecution(number, () => loadRuntimeExecution(deps, number))
      : loadRuntimeExecution(deps, number)));
  if (!found) throw new NotFound(`execution #${number} not found`);
  // The submitter polling its own run (the adapter's hot path) needs no membership lookup.
  if (found.answer.submittedBy !== ctx.actor.userId) {
    await byNumber(`execution #${number}`, assertExecutionInReach(deps, ctx, found.executionId));
  }
  return found.answer;
}

/** How long a cancel waits for the run to stop: the adapter reports success only on `cancelled`. */
export const CANCEL_WAIT_MS = 10_000;

/**
 * POST /api/runtime/executions/:id/cancel — asks the run to stop as every cancel does, then answers
 * once it has (or after `waitMs`, with the state it is in). An ended run answers unchanged.
 */
export async function cancelRuntimeExecution(
  deps: CoreDeps,
  ctx: RequestCtx,
  number: number,
  waitMs = CANCEL_WAIT_MS,
): Promise<RuntimeExecutionDto> {
  await authorize(deps, ctx, 'task:cancel', { resourceType: 'execution', resourceId: `#${number}` });
  const row = await deps.prisma.execution.findUnique({ where: { number }, select: { id: true } });
  if (!row) throw new NotFound(`execution #${number} not found`);
  await byNumber(`execution #${number}`, cancelExecution(deps, ctx, row.id));
  const deadline = Date.now() + waitMs;
  for (;;) {
    // Listening before reading: a change between the read and the wait still wakes it.
    const left = deadline - Date.now();
    const changed = deps.cache?.nextChange(row.id, Math.max(0, Math.min(250, left)));
    const current = await deps.prisma.execution.findUniqueOrThrow({
      where: { id: row.id },
      include: numbered,
    });
    if (isTerminal(current.state) || left <= 0) return toRuntimeExecution(current);
    await (changed ?? new Promise((resolve) => setTimeout(resolve, Math.min(100, left))));
  }
}

interface ClaimedRow {
  id: string;
  number: number;
  column: string;
  priority: TaskDto['priority'];
  project_number: number;
  project_slug: string;
}

/**
 * POST /api/tasks/next — hands the caller the next card waiting in To do that it may take (its own,
 * or nobody's in a project it reaches): the highest priority, then the oldest. One statement finds
 * and claims it (assignee: the caller, column: in_progress); SKIP LOCKED lets concurrent callers
 * pass a card another is claiming, so no card is handed out twice.
 */
export async function claimNextTask(deps: CoreDeps, ctx: RequestCtx): Promise<NextTaskDto> {
  await authorize(deps, ctx, 'task:submit', { resourceType: 'task' });
  const me = ctx.actor.userId;
  const everyProject = seesAllProjects(ctx);
  const next = await deps.prisma.$transaction(async (tx) => {
    const rows = await tx.$queryRaw<ClaimedRow[]>`
      WITH next AS (
        SELECT t.id FROM tasks t
        WHERE t."column" = 'todo'
          AND (t.assignee_id = ${me} OR t.assignee_id IS NULL)
          AND (${everyProject}::boolean
               OR NOT EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = t.project_id)
               OR EXISTS (SELECT 1 FROM project_members m WHERE m.project_id = t.project_id AND m.user_id = ${me}))
        ORDER BY t.priority DESC, t.created_at, t.number
        LIMIT 1
        FOR UPDATE OF t SKIP LOCKED)
      UPDATE tasks SET assignee_id = ${me}, "column" = 'in_progress', updated_at = now() AT TIME ZONE 'UTC'
      FROM next, projects p
      WHERE tasks.id = next.id AND p.id = tasks.project_id
      RETURNING tasks.id::text AS id, tasks.number, tasks."column" AS "column", tasks.priority::text AS priority,
                p.number AS project_number, p.slug AS project_slug`;
    const claimed = rows[0];
    if (!claimed) return { task: null, taskId: null };
    await writeAudit(deps, tx, ctx, {
      action: 'task.claim',
      resourceType: 'task',
      resourceId: claimed.id,
      outcome: 'ALLOWED',
      detail: { number: claimed.number, project: claimed.project_slug, priority: claimed.priority },
    });
    return {
      task: {
        id: claimed.number,
        status: claimed.column,
        projectId: claimed.project_number,
        priority: claimed.priority,
      },
      taskId: claimed.id,
    };
  });
  // The claimed card moves to In progress on every open board.
  if (next.taskId) await publishTaskChange(deps, next.taskId);
  return { task: next.task };
}
