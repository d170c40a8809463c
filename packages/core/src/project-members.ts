import { writeAudit } from './audit.ts';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { NotFound } from './errors.ts';
import { projectChanged } from './project-cache.ts';

async function projectOf(deps: CoreDeps, slug: string) {
  const project = await deps.prisma.project.findUnique({ where: { slug } });
  if (!project) throw new NotFound(`project '${slug}' not found`);
  return project;
}

/** Members of a project; none means it is team-wide. */
export async function listProjectMembers(deps: CoreDeps, ctx: RequestCtx, slug: string) {
  await authorize(deps, ctx, 'project:manage', { resourceType: 'project', resourceId: slug });
  const project = await projectOf(deps, slug);
  const rows = await deps.prisma.projectMember.findMany({
    where: { projectId: project.id },
    orderBy: { createdAt: 'asc' },
  });
  return rows.map((m) => ({ user_id: m.userId, added_by: m.addedBy, created_at: m.createdAt.toISOString() }));
}

/** Adding the first member makes the project members-only. */
export async function addProjectMember(deps: CoreDeps, ctx: RequestCtx, slug: string, userId: string) {
  await authorize(deps, ctx, 'project:manage', { resourceType: 'project', resourceId: slug });
  const project = await projectOf(deps, slug);
  if (!(await deps.prisma.user.findUnique({ where: { id: userId } }))) {
    throw new NotFound(`user '${userId}' not found`);
  }
  await deps.prisma.$transaction(async (tx) => {
    await tx.projectMember.upsert({
      where: { projectId_userId: { projectId: project.id, userId } },
      create: { projectId: project.id, userId, addedBy: ctx.actor.userId },
      update: {},
    });
    await writeAudit(deps, tx, ctx, {
      action: 'project.member.add',
      resourceType: 'project',
      resourceId: project.id,
      outcome: 'ALLOWED',
      detail: { project: slug, user_id: userId },
    });
  });
  projectChanged(deps);
  return listProjectMembers(deps, ctx, slug);
}

/** Removing the last member makes the project team-wide again. */
export async function removeProjectMember(deps: CoreDeps, ctx: RequestCtx, slug: string, userId: string) {
  await authorize(deps, ctx, 'project:manage', { resourceType: 'project', resourceId: slug });
  const project = await projectOf(deps, slug);
  await deps.prisma.$transaction(async (tx) => {
    const { count } = await tx.projectMember.deleteMany({ where: { projectId: project.id, userId } });
    if (!count) throw new NotFound(`user '${userId}' is not a member of '${slug}'`);
    await writeAudit(deps, tx, ctx, {
      action: 'project.member.remove',
      resourceType: 'project',
      resourceId: project.id,
      outcome: 'ALLOWED',
      detail: { project: slug, user_id: userId },
    });
  });
  projectChanged(deps);
  return listProjectMembers(deps, ctx, slug);
}
