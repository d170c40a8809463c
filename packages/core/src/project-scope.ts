import type { Prisma } from '@ccl/db';
import { has, type RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { NotFound } from './errors.ts';

/**
 * Which projects a caller reaches. A project without members is team-wide; one with
 * members is theirs alone. `project:manage` (and the system) reach every project.
 * Objects out of reach answer 404, exactly like missing ones, so ids cannot be probed.
 */
export function seesAllProjects(ctx: RequestCtx): boolean {
  return ctx.actor.via === 'system' || has(ctx, 'project:manage');
}

/** A Prisma filter for the projects in reach; undefined when every project is. */
export function projectsInReach(ctx: RequestCtx): Prisma.ProjectWhereInput | undefined {
  if (seesAllProjects(ctx)) return undefined;
  return { OR: [{ members: { none: {} } }, { members: { some: { userId: ctx.actor.userId } } }] };
}

export function tasksInReach(ctx: RequestCtx): Prisma.TaskWhereInput {
  const projects = projectsInReach(ctx);
  return projects ? { project: projects } : {};
}

export async function assertProjectInReach(deps: Pick<CoreDeps, 'prisma'>, ctx: RequestCtx, slug: string) {
  if (seesAllProjects(ctx)) return;
  // One read: a project that does not exist yet is created on first use, so only an existing,
  // members-only project the caller is not in is out of reach.
  const project = await deps.prisma.project.findUnique({
    where: { slug },
    select: { _count: { select: { members: true } }, members: { where: { userId: ctx.actor.userId } } },
  });
  if (project && project._count.members > 0 && project.members.length === 0) {
    throw new NotFound(`project '${slug}' not found`);
  }
}

export async function assertTaskInReach(deps: Pick<CoreDeps, 'prisma'>, ctx: RequestCtx, taskId: string) {
  const projects = projectsInReach(ctx);
  if (!projects) return;
  const found = await deps.prisma.task.count({ where: { id: taskId, project: projects } });
  if (!found) throw new NotFound(`task ${taskId} not found`);
}

export async function assertExecutionInReach(
  deps: Pick<CoreDeps, 'prisma'>,
  ctx: RequestCtx,
  executionId: string,
) {
  const projects = projectsInReach(ctx);
  if (!projects) return;
  const found = await deps.prisma.execution.count({
    where: { id: executionId, task: { project: projects } },
  });
  if (!found) throw new NotFound(`execution ${executionId} not found`);
}
