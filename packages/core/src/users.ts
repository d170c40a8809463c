import crypto, { createHash, randomBytes } from 'node:crypto';
import type { PrismaClient } from '@ccl/db';
import { keepAnAdmin } from './admin/last-admin.ts';
import { writeAudit } from './audit.ts';
import { authorize } from './authorize.ts';
import { type RequestCtx, systemCtx } from './context.ts';
import { announceCredentialChange } from './credential-change.ts';
import type { CoreDeps } from './deps.ts';
import { Invalid, NotFound } from './errors.ts';
import { BUILTIN_ROLES, ROLE_NAMES } from './permissions.ts';

/** The implicit developer that loopback requests act as when the server is bound to loopback. */
export const LOCAL_USER_ID = 'local';
export const FIRST_ADMIN_ID = 'admin';

/** sha256 hex; the one-shot crypto.hash (Node ≥ 20.12) where there is one, it is the hot path of every request. */
export const hashToken: (token: string) => string =
  typeof crypto.hash === 'function'
    ? (token) => crypto.hash('sha256', token, 'hex')
    : (token) => createHash('sha256').update(token).digest('hex');

/**
 * Creates or refreshes the built-in roles and the `local` user. Idempotent; safe at every
 * start. One read finds what is already right, so a CLI call on a set-up database writes nothing.
 */
export async function ensureBuiltins(prisma: PrismaClient): Promise<void> {
  const [roles, local] = await Promise.all([
    prisma.role.findMany({ where: { name: { in: ROLE_NAMES } } }),
    prisma.user.findUnique({ where: { id: LOCAL_USER_ID }, select: { id: true } }),
  ]);
  const current = new Map(roles.map((r) => [r.name, r]));
  for (const [name, role] of Object.entries(BUILTIN_ROLES)) {
    const have = current.get(name);
    const same =
      have?.builtin === true &&
      have.description === role.description &&
      JSON.stringify(have.permissions) === JSON.stringify(role.permissions);
    if (same) continue;
    await prisma.role.upsert({
      where: { name },
      create: { name, description: role.description, builtin: true, permissions: role.permissions },
      update: { description: role.description, builtin: true, permissions: role.permissions },
    });
  }
  if (local) return;
  await prisma.user.upsert({
    where: { id: LOCAL_USER_ID },
    create: { id: LOCAL_USER_ID, name: 'Local developer', roleName: 'DEVELOPER' },
    update: {},
  });
}

/**
 * Creates the first admin once, with a random API token. Returns the token only
 * on that first call so the caller can print it once; it is stored hashed.
 */
export async function ensureFirstAdmin(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
): Promise<{ userId: string; token: string } | null> {
  const { prisma } = deps;
  const token = newUserToken();
  return prisma.$transaction(async (tx) => {
    const admins = await tx.user.count({ where: { roleName: 'ADMIN' } });
    if (admins > 0) return null;
    await tx.user.create({
      data: { id: FIRST_ADMIN_ID, name: 'Administrator', roleName: 'ADMIN', tokenHash: hashToken(token) },
    });
    await writeAudit(deps, tx, systemCtx(), {
      action: 'user.create',
      resourceType: 'user',
      resourceId: FIRST_ADMIN_ID,
      outcome: 'ALLOWED',
      detail: { role: 'ADMIN', first_admin: true },
    });
    return { userId: FIRST_ADMIN_ID, token };
  });
}

const newUserToken = () => `ccl_${randomBytes(24).toString('base64url')}`;

const userIdPattern = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$/;

/** `clawlink user add`: the CLI runs as the machine's operator, audited as system. */
export async function addUser(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
  input: { id: string; role: string; name?: string },
) {
  const { prisma } = deps;
  if (!userIdPattern.test(input.id)) {
    throw new Invalid(`user id '${input.id}' must be 1-128 letters, digits, dot, dash, underscore or @`);
  }
  const role = input.role.toUpperCase();
  const exists = await prisma.role.findUnique({ where: { name: role } });
  if (!exists) throw new Invalid(`unknown role '${input.role}'; roles: ${ROLE_NAMES.join(', ')}`);
  return prisma.$transaction(async (tx) => {
    const before = await tx.user.findUnique({ where: { id: input.id }, select: { roleName: true } });
    if (before?.roleName === 'ADMIN' && role !== 'ADMIN') await keepAnAdmin(tx, input.id);
    const user = await tx.user.upsert({
      where: { id: input.id },
      create: { id: input.id, roleName: role, name: input.name ?? null },
      update: { roleName: role, ...(input.name ? { name: input.name } : {}) },
    });
    if (before && before.roleName !== role) await announceCredentialChange(tx);
    await writeAudit(deps, tx, systemCtx(), {
      action: 'user.upsert',
      resourceType: 'user',
      resourceId: input.id,
      outcome: 'ALLOWED',
      detail: { role, via: 'cli' },
    });
    return user;
  });
}

/**
 * `clawlink user token <id>`: a new bearer token for the user (the kind the first administrator is
 * given at the first start), returned once and stored hashed. The previous one stops working at once:
 * tokens are looked up on every request, never cached.
 */
export async function rotateUserToken(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
  ctx: RequestCtx,
  userId: string,
) {
  await authorize(deps, ctx, 'user:manage', { resourceType: 'user', resourceId: userId });
  const token = newUserToken();
  await deps.prisma.$transaction(async (tx) => {
    const user = await tx.user.findUnique({ where: { id: userId }, select: { tokenHash: true } });
    if (!user) throw new NotFound(`user '${userId}' not found`);
    await tx.user.update({ where: { id: userId }, data: { tokenHash: hashToken(token) } });
    await writeAudit(deps, tx, ctx, {
      action: 'user.token',
      resourceType: 'user',
      resourceId: userId,
      outcome: 'ALLOWED',
      detail: { replaced: user.tokenHash !== null },
    });
  });
  return token;
}

export function listUsers(prisma: PrismaClient) {
  return prisma.user.findMany({ orderBy: { createdAt: 'asc' }, include: { role: true } });
}
