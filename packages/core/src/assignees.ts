import type { AssigneeDto } from '@ccl/contracts';
import type { Prisma } from '@ccl/db';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps, Tx } from './deps.ts';
import { Invalid } from './errors.ts';
import { assertProjectInReach } from './project-scope.ts';

/**
 * The enabled users who reach a project, the same rule `projectsInReach` applies to a caller:
 * everyone for a team-wide project; for a members-only one its members and those whose role
 * holds project:manage. A card is only assigned to someone who can open it.
 */
async function assignableWhere(
  db: Pick<Tx, 'projectMember'>,
  projectId: string | null,
): Promise<Prisma.UserWhereInput> {
  // A project the submit is about to make has no members yet.
  const members = projectId === null ? 0 : await db.projectMember.count({ where: { projectId } });
  if (!members || projectId === null) return { disabled: false };
  return {
    disabled: false,
    OR: [{ memberships: { some: { projectId } } }, { role: { permissions: { has: 'project:manage' } } }],
  };
}

/**
 * Refuses (400, naming the reason) an assignee who does not exist, is disabled or cannot reach
 * the project; null (unassign) always passes.
 */
export async function checkAssignee(
  db: Pick<Tx, 'projectMember' | 'user'>,
  /** Null: a project not made yet (its first card makes it). */
  projectId: string | null,
  userId: string | null,
): Promise<void> {
  if (userId === null) return;
  const user = await db.user.findUnique({ where: { id: userId }, select: { disabled: true } });
  if (!user) throw new Invalid(`assignee_id: no user '${userId}'`);
  if (user.disabled) throw new Invalid(`assignee_id: user '${userId}' is disabled`);
  const reaches = await db.user.count({ where: { id: userId, ...(await assignableWhere(db, projectId)) } });
  if (!reaches) throw new Invalid(`assignee_id: user '${userId}' is not a member of this project`);
}

/** GET /api/projects/:slug/assignees: who a card of the project can be assigned to. */
export async function listAssignees(deps: CoreDeps, ctx: RequestCtx, slug: string): Promise<AssigneeDto[]> {
  await authorize(deps, ctx, 'task:view', { resourceType: 'project', resourceId: slug });
  await assertProjectInReach(deps, ctx, slug);
  const project = await deps.prisma.project.findUnique({ where: { slug }, select: { id: true } });
  // A project is created by its first task; before that everyone enabled may take its cards.
  const where = project ? await assignableWhere(deps.prisma, project.id) : { disabled: false };
  return deps.prisma.user.findMany({ where, orderBy: { id: 'asc' }, select: { id: true, name: true } });
}
