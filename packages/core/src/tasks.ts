import type { AgentDescriptor } from '@ccl/agents';
import type { SubmitTaskBody, TaskDto } from '@ccl/contracts';
import { type Execution, Prisma } from '@ccl/db';
import { assignQueueRank } from './admission.ts';
import { checkAssignee } from './assignees.ts';
import { writeAudit } from './audit.ts';
import { authorize } from './authorize.ts';
import { insertCard } from './card-insert.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps, Tx } from './deps.ts';
import { toTaskDto, toTaskState } from './dto.ts';
import { Invalid, NotFound, Unavailable } from './errors.ts';
import { noticeAfter, publishTaskChange, transitionAndPublish } from './execution-store.ts';
import type { GithubOrigin } from './github/origin.ts';
import {
  assertTaskInReach,
  type ProjectForRun,
  projectForRunInReach,
  tasksInReach,
} from './project-scope.ts';
import { INBOX } from './projects.ts';
import type { ChangeMark } from './read-cache.ts';
import { checkRepo } from './repo-check.ts';
import { contextToStore, resolveRunOptions } from './run-options.ts';
import { primeRuntimePoll } from './runtime-answer.ts';
import { latestPullRequests } from './task-pull-requests.ts';
import { taskIdOf } from './task-ref.ts';

type SubmitContext = SubmitTaskBody['context'];

export function titleFor(prompt: string, context: SubmitContext): string {
  const fromDescription = context.description?.trim() ?? '';
  const firstLine = prompt.trim().split(/\r?\n/, 1)[0] ?? '';
  const title = fromDescription || firstLine || 'Untitled task';
  return title.length > 200 ? `${title.slice(0, 199)}…` : title;
}

/** Resolves `general-purpose` and aliases; refuses unknown or unavailable runtimes with what to do. */
export function resolveAgent(
  deps: CoreDeps,
  agentType: string,
  projectSecrets: readonly string[] = [],
): AgentDescriptor {
  const agent = deps.agents.resolve(agentType);
  if (!agent) {
    throw new Invalid(`unknown agent_type '${agentType}'; known: ${deps.agents.knownTypes().join(', ')}`);
  }
  const keyFromProject = !!agent.keySecret && projectSecrets.includes(agent.keySecret);
  if (!(agent.available || keyFromProject) || !agent.runner) {
    throw new Invalid(`agent '${agentType}' is not available: ${agent.reason ?? 'no runner'}`);
  }
  return agent;
}

function checkSkill(
  deps: CoreDeps,
  ctx: RequestCtx,
  skillId: string | undefined,
  agentType: string,
): string | null {
  if (!skillId) return null;
  const skill = deps.skills.get(skillId);
  if (!skill) {
    const known = deps.skills.list().map((s) => s.id);
    throw new Invalid(`unknown skill '${skillId}'; known: ${known.join(', ') || 'none'}`);
  }
  const missing = skill.requiredPermissions.filter((p) => !ctx.actor.permissions.includes(p));
  if (missing.length)
    throw new Invalid(
      `skill '${skillId}' needs ${missing.join(', ')}, which user '${ctx.actor.userId}' lacks`,
    );
  if (skill.agents.length && !skill.agents.includes(agentType)) {
    throw new Invalid(`skill '${skillId}' works with ${skill.agents.join(', ')}, not ${agentType}`);
  }
  return skill.id;
}

interface NewExecution {
  agentType: string;
  prompt: string;
  context: SubmitContext;
}

/**
 * The run to write, checked and resolved. The caller has checked that the project is in reach, and
 * passes what it read of it then (projectForRunInReach); otherwise it is read here.
 */
async function prepareExecution(deps: CoreDeps, ctx: RequestCtx, input: NewExecution, read?: ProjectForRun) {
  await authorize(deps, ctx, 'agent:execute', { resourceType: 'agent', resourceId: input.agentType });
  await deps.agents.refresh();
  const slug = input.context.project ?? INBOX;
  const project = read ?? (await projectForRunInReach(deps, ctx, slug));
  const agent = resolveAgent(deps, input.agentType, project.secrets);
  const skill = checkSkill(deps, ctx, input.context.skill, agent.agentType);
  // The one parse of the run's options: the worker and the runners read what is stored here.
  const options = resolveRunOptions({
    context: input.context,
    project: { slug, settings: project.settings },
    skill,
    server: deps.config,
  });
  if (options.repo) await checkRepo(deps, ctx, options.repo, 'context.repo');
  return {
    requestedAgent: input.agentType,
    agentType: agent.agentType,
    skill,
    prompt: input.prompt,
    context: contextToStore(input.context, options) as Prisma.InputJsonValue,
    userId: ctx.actor.userId,
    sessionId: ctx.actor.sessionId ?? null,
  };
}

const QUEUE_DOWN = 'the queue is unreachable; try again in a few seconds';

/**
 * Before anything of a new run is written: a queue that does not answer turns the submission into
 * a 503 that leaves nothing behind, instead of a card whose run cannot start.
 */
async function assertQueueReachable(deps: CoreDeps, ctx: RequestCtx): Promise<void> {
  // The Postgres backend keeps its jobs in the run's own database: the write that follows is the
  // look (a database that does not answer refuses it, 503 with nothing written), one round trip fewer.
  if (!deps.queue.ping || deps.queue.backend === 'postgres') return;
  try {
    await deps.queue.ping();
  } catch (err) {
    deps.log.warn(
      { err: (err as Error).message, reqId: ctx.requestId },
      'submission refused: the queue does not answer',
    );
    throw new Unavailable(QUEUE_DOWN);
  }
}

/**
 * After the commit: ranks the run (which tells listeners: board, caches) and enqueues it. If the
 * queue refuses (it went away since the check before the write), the execution is failed with the
 * reason, so nothing is left PENDING without a job, and the caller gets a 503. Returns the run as
 * ranked and queued, whose poll answer is then kept in this process's read cache (runtime-answer.ts):
 * `mark` was taken before the run was written, `numbers` are its card's and project's.
 */
async function enqueueOrFail(
  deps: CoreDeps,
  ctx: RequestCtx,
  execution: Execution,
  mark: ChangeMark | undefined,
  numbers: { taskNumber: number; projectNumber: number },
): Promise<Execution> {
  const executionId = execution.id;
  // Its turn among all projects' queued runs (admission.ts): a card's run got it as it was written.
  const ranked = execution.queueRank;
  const { rank, updatedAt } =
    ranked === null
      ? await assignQueueRank(deps, executionId)
      : { rank: ranked, updatedAt: execution.updatedAt };
  if (ranked !== null) noticeAfter(deps, { executionId, taskId: execution.taskId, seq: 0, state: 'PENDING' });
  try {
    // A run just written: no job of it can exist yet.
    await deps.queue.enqueue(executionId, { priority: rank, fresh: true });
  } catch (err) {
    deps.log.error({ err, executionId, reqId: ctx.requestId }, 'enqueue failed');
    await transitionAndPublish(deps, ctx, executionId, 'FAILED', { error: QUEUE_DOWN }, { retryMs: 0 });
    throw new Unavailable(QUEUE_DOWN);
  }
  const queued = { ...execution, queueRank: rank, updatedAt };
  primeRuntimePoll(deps, mark, {
    ...queued,
    task: { id: execution.taskId, number: numbers.taskNumber, project: { number: numbers.projectNumber } },
  });
  return queued;
}

/** POST /api/runtime/tasks/submit: a card in the project plus its first execution. */
export async function submitTask(deps: CoreDeps, ctx: RequestCtx, input: SubmitTaskBody) {
  await authorize(deps, ctx, 'task:submit', { resourceType: 'task' });
  await assertQueueReachable(deps, ctx);
  const project = await projectForRunInReach(deps, ctx, input.context.project ?? INBOX);
  const exec = await prepareExecution(
    deps,
    ctx,
    { agentType: input.agent_type, prompt: input.prompt, context: input.context },
    project,
  );
  const slug = input.context.project ?? INBOX;
  const mark = deps.cache?.changeMark();
  const { task, execution, projectNumber } = await insertCard(
    deps,
    ctx,
    {
      projectSlug: slug,
      title: titleFor(input.prompt, input.context),
      description: input.context.description ?? '',
      column: 'in_progress',
      assigneeId: null,
    },
    exec,
    ({ taskId, executionId }) => ({
      action: 'task.submit',
      resourceType: 'task',
      resourceId: taskId,
      outcome: 'ALLOWED',
      detail: {
        execution_id: executionId,
        agent_type: exec.agentType,
        requested_agent: exec.requestedAgent,
        project: slug,
      },
    }),
  );
  if (!execution) throw new Error('the run was not written');
  const queued = await enqueueOrFail(deps, ctx, execution, mark, { taskNumber: task.number, projectNumber });
  // The run as written and queued; a worker may have moved it on since, which the next poll shows.
  return toTaskState(queued, { ...task, project: { slug } });
}

const taskInclude = {
  project: true,
  executions: { orderBy: { createdAt: 'desc' }, take: 1 },
} satisfies Prisma.TaskInclude;

/** POST /api/tasks: a card, and an execution when prompt and agent_type are given. */
export async function createTask(
  deps: CoreDeps,
  ctx: RequestCtx,
  input: {
    project: string;
    title: string;
    description?: string | undefined;
    column?: TaskDto['column'] | undefined;
    assignee_id?: string | undefined;
    prompt?: string | undefined;
    agent_type?: string | undefined;
    context?: SubmitContext | undefined;
    priority?: TaskDto['priority'] | undefined;
    /** A run GitHub started: where it answers (github/origin.ts). */
    github?: GithubOrigin | undefined;
  },
): Promise<TaskDto> {
  await authorize(deps, ctx, 'task:submit', { resourceType: 'task' });
  const project = await projectForRunInReach(deps, ctx, input.project);
  if (input.prompt !== undefined && input.agent_type === undefined) {
    throw new Invalid(
      'give agent_type with prompt to start an execution (agent_type alone is kept on the card)',
    );
  }
  const context = { ...(input.context ?? {}), project: input.project };
  if (input.prompt && input.agent_type) await assertQueueReachable(deps, ctx);
  const exec =
    input.prompt && input.agent_type
      ? await prepareExecution(
          deps,
          ctx,
          { agentType: input.agent_type, prompt: input.prompt, context },
          project,
        )
      : null;
  const assigneeId = input.assignee_id ?? null;
  if (assigneeId !== null) {
    const project = await deps.prisma.project.findUnique({
      where: { slug: input.project },
      select: { id: true },
    });
    await checkAssignee(deps.prisma, project?.id ?? null, assigneeId);
  }
  const mark = deps.cache?.changeMark();
  const created = await insertCard(
    deps,
    ctx,
    {
      projectSlug: input.project,
      title: input.title,
      description: input.description ?? '',
      // A card that starts a run is in progress, whatever column it was asked for.
      column: exec ? 'in_progress' : (input.column ?? 'todo'),
      assigneeId,
      priority: input.priority,
      // The card remembers its agent and run settings for the runs started later.
      agentType: input.agent_type,
      context: input.context,
    },
    exec ? { ...exec, github: input.github } : null,
    ({ taskId, executionId }) => ({
      action: 'task.create',
      resourceType: 'task',
      resourceId: taskId,
      outcome: 'ALLOWED',
      detail: { project: input.project, execution_id: executionId, assignee_id: assigneeId },
    }),
  );
  const { task, execution, projectNumber } = created;
  let executions: Execution[] = [];
  if (execution) {
    executions = [
      await enqueueOrFail(deps, ctx, execution, mark, { taskNumber: task.number, projectNumber }),
    ];
  } else await publishTaskChange(deps, task.id);
  // The card as written (and its run as queued), not through getTask: creating a card needs
  // task:submit, and answering with it must not also need task:view. A new card has no pull request.
  return toTaskDto({ ...task, project: { slug: input.project }, executions }, null);
}

/** POST /api/tasks/:id/executions: run (or re-run) a task; `ref` is its id or number (task-ref.ts). */
export async function startExecution(
  deps: CoreDeps,
  ctx: RequestCtx,
  ref: string,
  input: {
    prompt: string;
    /** Unset: the card's agent_type, else DEFAULT_AGENT (`general-purpose`). */
    agent_type?: string | undefined;
    /** Unset: the card's context. */
    context?: SubmitContext | undefined;
    /** A follow-up GitHub started (a review, a failed check, a command on a portal PR). */
    github?: GithubOrigin | undefined;
    /** The CoderClaw instance that asked for the run (runtime-executions.ts). */
    clawId?: number | undefined;
  },
) {
  await authorize(deps, ctx, 'task:submit', { resourceType: 'task', resourceId: ref });
  const taskId = await taskIdOf(deps, ref);
  await assertTaskInReach(deps, ctx, taskId, ref);
  const task = await findTask(deps, taskId);
  await assertQueueReachable(deps, ctx);
  // The card's own agent and run settings, unless the run names its own.
  const cardContext = (task.context ?? {}) as SubmitContext;
  const context = { ...(input.context ?? cardContext), project: task.project.slug };
  const exec = await prepareExecution(deps, ctx, {
    agentType: input.agent_type ?? task.agentType ?? 'general-purpose',
    prompt: input.prompt,
    context,
  });
  const mark = deps.cache?.changeMark();
  const execution = await deps.prisma.$transaction(async (tx) => {
    const execution = await tx.execution.create({
      data: {
        ...exec,
        taskId,
        ...(input.github ? { github: input.github } : {}),
        ...(input.clawId !== undefined ? { clawId: input.clawId } : {}),
      },
    });
    await tx.task.update({ where: { id: taskId }, data: { column: 'in_progress' } });
    await writeAudit(deps, tx, ctx, {
      action: 'execution.start',
      resourceType: 'execution',
      resourceId: execution.id,
      outcome: 'ALLOWED',
      detail: { task_id: taskId, agent_type: exec.agentType },
    });
    return execution;
  });
  return enqueueOrFail(deps, ctx, execution, mark, {
    taskNumber: task.number,
    projectNumber: task.project.number,
  });
}

type TaskRow = Prisma.TaskGetPayload<{ include: typeof taskInclude }>;

/** The card of one task row, with its newest pull request. */
async function cardOf(db: CoreDeps['prisma'] | Tx, task: TaskRow): Promise<TaskDto> {
  const prs = await latestPullRequests(db, [task.id]);
  return toTaskDto(task, prs.get(task.id) ?? null);
}

async function findTask(deps: CoreDeps, taskId: string) {
  const task = await deps.prisma.task.findUnique({ where: { id: taskId }, include: taskInclude });
  if (!task) throw new NotFound(`task ${taskId} not found`);
  return task;
}

/** `ref`: the task's id or its number (task-ref.ts). */
export async function getTask(deps: CoreDeps, ctx: RequestCtx, ref: string): Promise<TaskDto> {
  await authorize(deps, ctx, 'task:view', { resourceType: 'task', resourceId: ref });
  const taskId = await taskIdOf(deps, ref);
  await assertTaskInReach(deps, ctx, taskId, ref);
  return cardOf(deps.prisma, await findTask(deps, taskId));
}

export async function listTasks(
  deps: CoreDeps,
  ctx: RequestCtx,
  q: {
    project?: string | undefined;
    column?: string | undefined;
    state?: string | undefined;
    limit: number;
    cursor?: string | undefined;
  },
) {
  await authorize(deps, ctx, 'task:view', { resourceType: 'task' });
  const where: Prisma.TaskWhereInput = { ...tasksInReach(ctx) };
  if (q.project) where.AND = [{ project: { slug: q.project } }];
  if (q.column) where.column = q.column;
  if (q.state) {
    // The card's state is its latest execution's; filter on that, then verify below.
    where.executions = {
      some: { state: q.state.toUpperCase() as Prisma.EnumExecutionStateFilter['equals'] },
    };
  }
  const rows = await deps.prisma.task.findMany({
    where,
    include: taskInclude,
    orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
    take: q.limit + 1,
    ...(q.cursor ? { cursor: { id: q.cursor }, skip: 1 } : {}),
  });
  const page = rows.slice(0, q.limit);
  const prs = await latestPullRequests(
    deps.prisma,
    page.map((t) => t.id),
  );
  const items = page
    .map((t) => toTaskDto(t, prs.get(t.id) ?? null))
    .filter((t) => !q.state || t.latest_execution?.state === q.state);
  return { items, next_cursor: rows.length > q.limit ? (page.at(-1)?.id ?? null) : null };
}

export async function updateTask(
  deps: CoreDeps,
  ctx: RequestCtx,
  ref: string,
  input: {
    title?: string | undefined;
    description?: string | undefined;
    column?: TaskDto['column'] | undefined;
    /** null unassigns. */
    assignee_id?: string | null | undefined;
    priority?: TaskDto['priority'] | undefined;
    /** null clears. */
    agent_type?: string | null | undefined;
    context?: SubmitContext | null | undefined;
  },
): Promise<TaskDto> {
  await authorize(deps, ctx, 'task:submit', { resourceType: 'task', resourceId: ref });
  const taskId = await taskIdOf(deps, ref);
  await assertTaskInReach(deps, ctx, taskId, ref);
  const before = await findTask(deps, taskId);
  // Answers with the row it wrote: re-reading through getTask would also need task:view.
  const card = await deps.prisma.$transaction(async (tx) => {
    if (input.assignee_id !== undefined) await checkAssignee(tx, before.projectId, input.assignee_id);
    const updated = await tx.task.update({
      include: taskInclude,
      where: { id: taskId },
      data: {
        ...(input.title !== undefined ? { title: input.title } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.column !== undefined ? { column: input.column } : {}),
        ...(input.assignee_id !== undefined ? { assigneeId: input.assignee_id } : {}),
        ...(input.priority !== undefined ? { priority: input.priority } : {}),
        ...(input.agent_type !== undefined ? { agentType: input.agent_type } : {}),
        ...(input.context !== undefined
          ? { context: input.context === null ? Prisma.DbNull : (input.context as Prisma.InputJsonValue) }
          : {}),
      },
    });
    await writeAudit(deps, tx, ctx, {
      action: 'task.update',
      resourceType: 'task',
      resourceId: taskId,
      outcome: 'ALLOWED',
      detail: {
        fields: Object.keys(input),
        // Who had the card and who has it now: the question an audit reader asks of a reassignment.
        ...(input.assignee_id !== undefined
          ? { assignee: { from: before.assigneeId, to: input.assignee_id } }
          : {}),
      },
    });
    return cardOf(tx, updated);
  });
  await publishTaskChange(deps, taskId);
  return card;
}
