import { writeAudit } from '../audit.ts';
import { authorize } from '../authorize.ts';
import type { RequestCtx } from '../context.ts';
import { announceCredentialChange } from '../credential-change.ts';
import type { CoreDeps } from '../deps.ts';
import { Conflict, Invalid, NotFound } from '../errors.ts';
import { PERMISSIONS } from '../permissions.ts';

const ROLE_NAME = /^[A-Z][A-Z0-9_]{1,39}$/;

type RoleRow = {
  name: string;
  description: string;
  builtin: boolean;
  permissions: string[];
  createdAt: Date;
};

export const toRoleDto = (r: RoleRow, users: number) => ({
  name: r.name,
  description: r.description,
  builtin: r.builtin,
  permissions: r.permissions,
  users,
});

export async function listRoles(deps: CoreDeps, ctx: RequestCtx) {
  await authorize(deps, ctx, 'user:manage', { resourceType: 'role' });
  const roles = await deps.prisma.role.findMany({
    orderBy: [{ builtin: 'desc' }, { name: 'asc' }],
    include: { _count: { select: { users: true } } },
  });
  return roles.map((r) => toRoleDto(r, r._count.users));
}

/** Creates or edits a custom role; the built-in ones are fixed (they are rewritten at every start). */
export async function putRole(
  deps: CoreDeps,
  ctx: RequestCtx,
  name: string,
  input: { description?: string | undefined; permissions: string[] },
) {
  await authorize(deps, ctx, 'user:manage', { resourceType: 'role', resourceId: name });
  if (!ROLE_NAME.test(name))
    throw new Invalid('role names are 2-40 upper-case letters, digits or underscores');
  const unknown = input.permissions.filter((p) => !(PERMISSIONS as readonly string[]).includes(p));
  if (unknown.length)
    throw new Invalid(`unknown permissions: ${unknown.join(', ')}; known: ${PERMISSIONS.join(', ')}`);
  const permissions = [...new Set(input.permissions)];
  return deps.prisma.$transaction(async (tx) => {
    const before = await tx.role.findUnique({ where: { name } });
    if (before?.builtin)
      throw new Conflict(`${name} is a built-in role and cannot be changed; create a custom role`);
    const role = await tx.role.upsert({
      where: { name },
      create: { name, description: input.description ?? '', permissions },
      update: { ...(input.description !== undefined ? { description: input.description } : {}), permissions },
      include: { _count: { select: { users: true } } },
    });
    // Sessions and API keys are cached with their permissions: the notice makes them read afresh.
    if (before) await announceCredentialChange(tx);
    await writeAudit(deps, tx, ctx, {
      action: before ? 'role.update' : 'role.create',
      resourceType: 'role',
      resourceId: name,
      outcome: 'ALLOWED',
      detail: { permissions_from: before?.permissions ?? null, permissions_to: permissions },
    });
    return toRoleDto(role, role._count.users);
  });
}

export async function deleteRole(deps: CoreDeps, ctx: RequestCtx, name: string) {
  await authorize(deps, ctx, 'user:manage', { resourceType: 'role', resourceId: name });
  await deps.prisma.$transaction(async (tx) => {
    const role = await tx.role.findUnique({
      where: { name },
      include: { _count: { select: { users: true } } },
    });
    if (!role) throw new NotFound(`role '${name}' not found`);
    if (role.builtin) throw new Conflict(`${name} is a built-in role and cannot be deleted`);
    if (role._count.users > 0)
      throw new Conflict(`${role._count.users} user(s) still have role ${name}; move them first`);
    await tx.role.delete({ where: { name } });
    await writeAudit(deps, tx, ctx, {
      action: 'role.delete',
      resourceType: 'role',
      resourceId: name,
      outcome: 'ALLOWED',
      detail: { permissions: role.permissions },
    });
  });
}
