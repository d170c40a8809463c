import { Prisma, sqlOf } from '@ccl/db';
import { has, type RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { NotFound } from './errors.ts';
import type { ProjectForRunRead } from './project-cache.ts';
import { type RefusalDeps, recordRefusal } from './refusals.ts';

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

/** The ids of the projects in reach, for raw SQL; undefined when every project is. */
export async function projectIdsInReach(
  deps: Pick<CoreDeps, 'prisma'>,
  ctx: RequestCtx,
): Promise<string[] | undefined> {
  const projects = projectsInReach(ctx);
  if (!projects) return undefined;
  return (await deps.prisma.project.findMany({ where: projects, select: { id: true } })).map((p) => p.id);
}

/**
 * True when no project is out of the caller's reach. Numbers that cannot be split by project (the
 * queue's job counts, a worker's load) are shown only then: they count members-only work too.
 */
export async function reachesEveryProject(deps: Pick<CoreDeps, 'prisma'>, ctx: RequestCtx): Promise<boolean> {
  const projects = projectsInReach(ctx);
  if (!projects) return true;
  return (await deps.prisma.project.count({ where: { NOT: projects } })) === 0;
}

export function tasksInReach(ctx: RequestCtx): Prisma.TaskWhereInput {
  const projects = projectsInReach(ctx);
  return projects ? { project: projects } : {};
}

/** An object that exists but is out of the caller's reach: answered 404, and audited as refused. */
async function outOfReach(deps: RefusalDeps, ctx: RequestCtx, resourceType: string, id: string, shown = id) {
  await recordRefusal(deps, ctx, {
    action: 'reach.denied',
    resourceType,
    resourceId: id,
    reason: 'in a members-only project the caller is not a member of',
  });
  return new NotFound(`${resourceType} ${resourceType === 'project' ? `'${shown}'` : shown} not found`);
}

/** What a new run needs of its project: settings and secret names (none yet for a project not made yet). */
export interface ProjectForRun {
  settings: Prisma.JsonValue;
  secrets: string[];
}

/**
 * Refuses a project out of the caller's reach, and gives what a new run needs of it: every submit
 * asks both. Read in one statement (raw-sql.ts), and kept by an API process until the project, its
 * members or its secrets change (project-cache.ts). A project that does not exist yet is created on
 * first use, so only an existing, members-only project the caller is not in is out of reach.
 */
export async function projectForRunInReach(
  deps: RefusalDeps & Pick<CoreDeps, 'cache'>,
  ctx: RequestCtx,
  slug: string,
): Promise<ProjectForRun> {
  const cache = deps.cache?.projects;
  const found =
    cache?.get(slug) ??
    (await (cache ? cache.load(slug, () => readProjectForRun(deps, slug)) : readProjectForRun(deps, slug)));
  if (!found) return { settings: null, secrets: [] };
  if (found.members.length > 0 && !found.members.includes(ctx.actor.userId) && !seesAllProjects(ctx))
    throw await outOfReach(deps, ctx, 'project', slug);
  return { settings: found.settings, secrets: found.secrets };
}

async function readProjectForRun(
  deps: Pick<CoreDeps, 'prisma'>,
  slug: string,
): Promise<ProjectForRunRead | null> {
  const rows = await sqlOf(deps.prisma).query<ProjectForRunRead>(Prisma.sql`
    SELECT p.settings,
           COALESCE((SELECT array_agg(s.name) FROM project_secrets s WHERE s.project_id = p.id), '{}') AS secrets,
           COALESCE((SELECT array_agg(m.user_id) FROM project_members m WHERE m.project_id = p.id), '{}') AS members
    FROM projects p WHERE p.slug = ${slug}`);
  return rows[0] ?? null;
}

export async function assertProjectInReach(deps: RefusalDeps, ctx: RequestCtx, slug: string) {
  if (!seesAllProjects(ctx)) await projectForRunInReach(deps, ctx, slug);
}

/** `shown`: how the caller named the task (its number, task-ref.ts); the 404 names nothing more. */
export async function assertTaskInReach(deps: RefusalDeps, ctx: RequestCtx, taskId: string, shown = taskId) {
  const projects = projectsInReach(ctx);
  if (!projects) return;
  const found = await deps.prisma.task.count({ where: { id: taskId, project: projects } });
  if (found) return;
  // Told apart only on the way out: an unknown id is a plain 404, an existing one a refusal.
  if (await deps.prisma.task.count({ where: { id: taskId } }))
    throw await outOfReach(deps, ctx, 'task', taskId, shown);
  throw new NotFound(`task ${shown} not found`);
}

export async function assertExecutionInReach(
  deps: RefusalDeps,
  ctx: RequestCtx,
  executionId: string,
  shown = executionId,
) {
  const projects = projectsInReach(ctx);
  if (!projects) return;
  const found = await deps.prisma.execution.count({
    where: { id: executionId, task: { project: projects } },
  });
  if (found) return;
  if (await deps.prisma.execution.count({ where: { id: executionId } })) {
    throw await outOfReach(deps, ctx, 'execution', executionId, shown);
  }
  throw new NotFound(`execution ${shown} not found`);
}
