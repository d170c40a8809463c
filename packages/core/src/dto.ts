import type {
  ExecutionDto,
  ExecutionEventDto,
  ProjectBudgetDto,
  ProjectDto,
  TaskDto,
  TaskPullRequestDto,
  TaskStateDto,
} from '@ccl/contracts';
import type { Execution, ExecutionEvent, Project, Task } from '@ccl/db';

const iso = (d: Date | null) => (d ? d.toISOString() : null);
type JsonObject = Record<string, unknown>;
const obj = (v: unknown): JsonObject =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : {};

export function costOf(usage: unknown): number | null {
  const cost = obj(usage).cost_usd;
  return typeof cost === 'number' ? cost : null;
}

/** The runner's or the PR automation's pull request link, if the run has one. */
export function prUrlOf(meta: unknown): string | null {
  const url = obj(meta).pr_url;
  return typeof url === 'string' && /^https?:\/\//.test(url) ? url : null;
}

/** Seconds since the execution started, until it finished (or now); null before it starts. */
export function executionTime(exec: Pick<Execution, 'startedAt' | 'finishedAt'>): number | null {
  if (!exec.startedAt) return null;
  return Math.max(0, ((exec.finishedAt?.getTime() ?? Date.now()) - exec.startedAt.getTime()) / 1000);
}

export function toTaskState(
  exec: Execution,
  task: Pick<Task, 'id' | 'title'> & { project: Pick<Project, 'slug'> },
): TaskStateDto {
  const state = exec.state.toLowerCase() as TaskStateDto['state'];
  const ctx = obj(exec.context);
  const meta = obj(exec.meta);
  return {
    task_id: task.id,
    execution_uuid: exec.id,
    state,
    success: exec.state === 'COMPLETED',
    result: exec.result ?? null,
    error: exec.error,
    execution_time: executionTime(exec),
    metadata: {
      ...meta,
      agent_type: exec.agentType,
      requested_agent: exec.requestedAgent,
      model: meta.model ?? (typeof ctx.model === 'string' ? ctx.model : null),
      project: task.project.slug,
      title: task.title,
      skill: exec.skill,
      attempts: exec.attempts,
      usage: obj(exec.usage),
      ...(exec.pendingApproval ? { pending_approval: exec.pendingApproval } : {}),
      created_at: exec.createdAt.toISOString(),
      started_at: iso(exec.startedAt),
      finished_at: iso(exec.finishedAt),
    },
  };
}

export function toExecutionDto(e: Execution): ExecutionDto {
  return {
    id: e.id,
    task_id: e.taskId,
    requested_agent: e.requestedAgent,
    agent_type: e.agentType,
    skill: e.skill,
    state: e.state.toLowerCase() as ExecutionDto['state'],
    prompt: e.prompt,
    context: obj(e.context),
    result: e.result ?? null,
    error: e.error,
    usage: obj(e.usage),
    meta: obj(e.meta),
    pending_approval: e.pendingApproval ? obj(e.pendingApproval) : null,
    held_reason: e.state === 'PENDING' ? e.heldReason : null,
    attempts: e.attempts,
    created_at: e.createdAt.toISOString(),
    started_at: iso(e.startedAt),
    finished_at: iso(e.finishedAt),
  };
}

export function toEventDto(e: ExecutionEvent): ExecutionEventDto {
  return { seq: e.seq, type: e.type, data: obj(e.data), created_at: e.createdAt.toISOString() };
}

export function toTaskDto(
  t: Task & { project: Pick<Project, 'slug'>; executions: Execution[] },
  pullRequest: TaskPullRequestDto | null,
): TaskDto {
  const latest = t.executions[0];
  return {
    id: t.id,
    number: t.number,
    priority: t.priority,
    agent_type: t.agentType,
    context: t.context === null ? null : obj(t.context),
    project_id: t.projectId,
    project_slug: t.project.slug,
    title: t.title,
    description: t.description,
    column: t.column as TaskDto['column'],
    creator_id: t.creatorId,
    assignee_id: t.assigneeId,
    created_at: t.createdAt.toISOString(),
    updated_at: t.updatedAt.toISOString(),
    latest_execution: latest
      ? {
          id: latest.id,
          number: latest.number,
          agent_type: latest.agentType,
          state: latest.state.toLowerCase() as TaskDto['column'] & ExecutionDto['state'],
          created_at: latest.createdAt.toISOString(),
          finished_at: iso(latest.finishedAt),
          cost_usd: costOf(latest.usage),
          pr_url: prUrlOf(latest.meta),
          claw_id: latest.clawId,
          held_reason: latest.state === 'PENDING' ? latest.heldReason : null,
        }
      : null,
    pull_request: pullRequest,
  };
}

/** `budget`: the month's figures when the project has a budget (budgets.ts projectBudgets). */
export function toProjectDto(
  p: Project & { _count: { tasks: number } },
  budget: ProjectBudgetDto | null,
): ProjectDto {
  return {
    id: p.id,
    number: p.number,
    slug: p.slug,
    name: p.name,
    description: p.description,
    settings: obj(p.settings),
    created_at: p.createdAt.toISOString(),
    task_count: p._count.tasks,
    budget,
  };
}
