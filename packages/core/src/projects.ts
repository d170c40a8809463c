import type { ProjectGithub } from '@ccl/contracts';
import type { Prisma } from '@ccl/db';
import { wakeHeld } from './admission.ts';
import { type AuditDeps, writeAudit } from './audit.ts';
import { authorize } from './authorize.ts';
import { releaseBudgetWaits } from './budget-release.ts';
import { projectBudgets } from './budgets.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps, Tx } from './deps.ts';
import { toProjectDto } from './dto.ts';
import { Conflict, NotFound } from './errors.ts';
import { projectChanged } from './project-cache.ts';
import { projectsInReach } from './project-scope.ts';
import { checkRepo } from './repo-check.ts';

export const INBOX = 'inbox';

/** Finds or creates the project a task goes to (created on first use). */
export async function ensureProject(deps: AuditDeps, tx: Tx, ctx: RequestCtx, slug: string) {
  const existing = await tx.project.findUnique({ where: { slug } });
  if (existing) return existing;
  await createImplicitProject(deps, tx, ctx, slug);
  return tx.project.findUniqueOrThrow({ where: { slug } });
}

/**
 * Makes the project a first submit names, with its audit row, in the caller's transaction.
 * Concurrent first submits race here; ON CONFLICT lets one make it and the others use it.
 */
export async function createImplicitProject(
  deps: AuditDeps,
  tx: Pick<Tx, '$queryRaw' | '$executeRaw'>,
  ctx: RequestCtx,
  slug: string,
): Promise<void> {
  const inserted = await tx.$queryRaw<Array<{ id: string }>>`
    INSERT INTO projects (id, slug, name, created_by)
    VALUES (gen_random_uuid(), ${slug}, ${slug}, ${ctx.actor.userId})
    ON CONFLICT (slug) DO NOTHING
    RETURNING id::text AS id`;
  const made = inserted[0];
  if (!made) return;
  await writeAudit(deps, tx as Tx, ctx, {
    action: 'project.create',
    resourceType: 'project',
    resourceId: made.id,
    outcome: 'ALLOWED',
    detail: { slug, implicit: true },
  });
}

export async function listProjects(deps: CoreDeps, ctx: RequestCtx) {
  await authorize(deps, ctx, 'project:view', { resourceType: 'project' });
  const reach = projectsInReach(ctx);
  const rows = await deps.prisma.project.findMany({
    ...(reach ? { where: reach } : {}),
    orderBy: { createdAt: 'asc' },
    include: { _count: { select: { tasks: true } } },
  });
  const budgets = await projectBudgets(deps.prisma, rows);
  return rows.map((p) => toProjectDto(p, budgets.get(p.id) ?? null));
}

type ProjectSettings = Record<string, unknown>;

export async function createProject(
  deps: CoreDeps,
  ctx: RequestCtx,
  input: {
    slug: string;
    name?: string | undefined;
    description?: string | undefined;
    settings?: ProjectSettings | undefined;
  },
) {
  await authorize(deps, ctx, 'project:manage', { resourceType: 'project' });
  if (typeof input.settings?.repo === 'string')
    await checkRepo(deps, ctx, input.settings.repo, 'settings.repo');
  return deps.prisma.$transaction(async (tx) => {
    if (await tx.project.findUnique({ where: { slug: input.slug } })) {
      throw new Conflict(`project '${input.slug}' already exists`);
    }
    const project = await tx.project.create({
      data: {
        slug: input.slug,
        name: input.name ?? input.slug,
        description: input.description ?? '',
        settings: (input.settings ?? {}) as Prisma.InputJsonValue,
        createdBy: ctx.actor.userId,
      },
      include: { _count: { select: { tasks: true } } },
    });
    const budget = (await projectBudgets(tx, [project])).get(project.id) ?? null;
    await writeAudit(deps, tx, ctx, {
      action: 'project.create',
      resourceType: 'project',
      resourceId: project.id,
      outcome: 'ALLOWED',
      detail: { slug: input.slug },
    });
    return toProjectDto(project, budget);
  });
}

/** What changing a project needs: no queue or runtimes, so the CLI can call it too. */
/** The CLI changes projects without a queue; the server also wakes runs a raised limit lets start. */
type ProjectDeps = Pick<CoreDeps, 'prisma' | 'audit' | 'config' | 'refusals'> &
  Partial<Pick<CoreDeps, 'queue' | 'log' | 'cache'>>;

export async function updateProject(
  deps: ProjectDeps,
  ctx: RequestCtx,
  slug: string,
  input: {
    name?: string | undefined;
    description?: string | undefined;
    settings?: ProjectSettings | undefined;
  },
) {
  await authorize(deps, ctx, 'project:manage', { resourceType: 'project', resourceId: slug });
  if (typeof input.settings?.repo === 'string')
    await checkRepo(deps, ctx, input.settings.repo, 'settings.repo');
  const updated = await deps.prisma.$transaction(async (tx) => {
    const existing = await tx.project.findUnique({ where: { slug } });
    if (!existing) throw new NotFound(`project '${slug}' not found`);
    const project = await tx.project.update({
      where: { slug },
      data: {
        ...(input.name !== undefined ? { name: input.name } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        ...(input.settings !== undefined ? { settings: input.settings as Prisma.InputJsonValue } : {}),
      },
      include: { _count: { select: { tasks: true } } },
    });
    const budget = (await projectBudgets(tx, [project])).get(project.id) ?? null;
    await writeAudit(deps, tx, ctx, {
      action: 'project.update',
      resourceType: 'project',
      resourceId: project.id,
      outcome: 'ALLOWED',
      detail: { slug, fields: Object.keys(input) },
    });
    return toProjectDto(project, budget);
  });
  projectChanged(deps);
  // A raised budget lets the runs waiting on it go on.
  if (input.settings !== undefined) await releaseBudgetWaits(deps, ctx, { projectId: updated.id });
  // A raised limit (or budget) lets the project's held runs start now rather than at their next look.
  const { queue } = deps;
  if (input.settings !== undefined && queue) {
    await wakeHeld({ ...deps, queue }, updated.id).catch((err) =>
      deps.log?.warn({ err: (err as Error).message, project: slug }, 'could not wake held runs'),
    );
  }
  return updated;
}

/**
 * `clawlink project github`: links the project to a GitHub repository, replacing an earlier link,
 * or unlinks it (null). Its other settings stay; the change goes through updateProject, as a PATCH
 * of the settings would.
 */
export async function setProjectGithub(
  deps: ProjectDeps,
  ctx: RequestCtx,
  slug: string,
  github: ProjectGithub | null,
) {
  await authorize(deps, ctx, 'project:manage', { resourceType: 'project', resourceId: slug });
  const project = await deps.prisma.project.findUnique({ where: { slug }, select: { settings: true } });
  if (!project) throw new NotFound(`project '${slug}' not found`);
  const { github: _previous, ...rest } = (project.settings ?? {}) as ProjectSettings;
  return updateProject(deps, ctx, slug, { settings: github ? { ...rest, github } : rest });
}
