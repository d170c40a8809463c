import { randomBytes } from 'node:crypto';
import { writeAudit } from '../audit.ts';
import { authorize } from '../authorize.ts';
import { has, makeCtx, type RequestCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';
import { Invalid, NotFound } from '../errors.ts';
import { hashToken } from '../users.ts';

/** The CLI manages keys with the database alone. */
type KeyDeps = Pick<CoreDeps, 'prisma' | 'audit'>;

/** lastUsedAt is written at most this often. */
const TOUCH_EVERY_MS = 60_000;

export interface CreateKeyInput {
  name: string;
  /** A subset of the owner's permissions; empty or absent means all of them. */
  permissions?: string[] | undefined;
  expiresAt?: Date | undefined;
  /** Another user's key needs apikey:manage. */
  userId?: string | undefined;
}

type KeyRow = {
  id: string;
  userId: string;
  name: string;
  prefix: string;
  permissions: string[];
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  createdAt: Date;
  revokedAt: Date | null;
};

export function toApiKeyDto(k: KeyRow) {
  return {
    id: k.id,
    user_id: k.userId,
    name: k.name,
    prefix: k.prefix,
    permissions: k.permissions,
    expires_at: k.expiresAt?.toISOString() ?? null,
    last_used_at: k.lastUsedAt?.toISOString() ?? null,
    created_at: k.createdAt.toISOString(),
    revoked_at: k.revokedAt?.toISOString() ?? null,
  };
}

async function ownerOf(deps: KeyDeps, ctx: RequestCtx, userId: string | undefined) {
  const target = userId ?? ctx.actor.userId;
  if (target !== ctx.actor.userId) {
    await authorize(deps, ctx, 'apikey:manage', { resourceType: 'user', resourceId: target });
  }
  return target;
}

/** Creates a key and returns it once; only its sha256 is kept. */
export async function createApiKey(deps: KeyDeps, ctx: RequestCtx, input: CreateKeyInput) {
  const userId = await ownerOf(deps, ctx, input.userId);
  const owner = await deps.prisma.user.findUnique({ where: { id: userId }, include: { role: true } });
  if (!owner || owner.disabled) throw new NotFound(`user '${userId}' not found`);
  const wanted = [...new Set(input.permissions ?? [])];
  const beyond = wanted.filter((p) => !owner.role.permissions.includes(p));
  if (beyond.length) {
    throw new Invalid(`a key can only carry its owner's permissions; '${userId}' lacks ${beyond.join(', ')}`);
  }
  if (input.expiresAt && input.expiresAt.getTime() <= Date.now()) {
    throw new Invalid('expires_at must be in the future');
  }
  const key = `ccl_${randomBytes(24).toString('base64url')}`;
  const row = await deps.prisma.$transaction(async (tx) => {
    const created = await tx.apiKey.create({
      data: {
        userId,
        name: input.name,
        prefix: key.slice(0, 10),
        keyHash: hashToken(key),
        permissions: wanted,
        expiresAt: input.expiresAt ?? null,
      },
    });
    await writeAudit(deps, tx, ctx, {
      action: 'apikey.create',
      resourceType: 'api_key',
      resourceId: created.id,
      outcome: 'ALLOWED',
      detail: { owner: userId, name: input.name, permissions: wanted, expires_at: input.expiresAt ?? null },
    });
    return created;
  });
  return { ...toApiKeyDto(row), key };
}

export async function listApiKeys(deps: KeyDeps, ctx: RequestCtx, opts: { all?: boolean | undefined } = {}) {
  if (opts.all) await authorize(deps, ctx, 'apikey:manage', { resourceType: 'api_key' });
  const rows = await deps.prisma.apiKey.findMany({
    where: opts.all ? {} : { userId: ctx.actor.userId },
    orderBy: { createdAt: 'desc' },
  });
  return rows.map(toApiKeyDto);
}

export async function revokeApiKey(deps: KeyDeps, ctx: RequestCtx, id: string) {
  const row = await deps.prisma.apiKey.findUnique({ where: { id } });
  // Someone else's key is invisible without apikey:manage: 404, not 403.
  if (!row || (row.userId !== ctx.actor.userId && !has(ctx, 'apikey:manage'))) {
    throw new NotFound(`API key ${id} not found`);
  }
  const updated = await deps.prisma.$transaction(async (tx) => {
    const revoked = await tx.apiKey.update({
      where: { id },
      data: { revokedAt: row.revokedAt ?? new Date() },
    });
    await writeAudit(deps, tx, ctx, {
      action: 'apikey.revoke',
      resourceType: 'api_key',
      resourceId: id,
      outcome: 'ALLOWED',
      detail: { owner: row.userId },
    });
    return revoked;
  });
  return toApiKeyDto(updated);
}

/** The actor behind an API key, or null when the key is unknown, revoked, expired or its owner disabled. */
export async function apiKeyCtx(deps: CoreDeps, key: string, requestId?: string): Promise<RequestCtx | null> {
  const row = await deps.prisma.apiKey.findUnique({
    where: { keyHash: hashToken(key) },
    include: { user: { include: { role: true } } },
  });
  const now = Date.now();
  if (!row || row.revokedAt || row.user.disabled || (row.expiresAt && row.expiresAt.getTime() <= now)) {
    return null;
  }
  if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > TOUCH_EVERY_MS) {
    await deps.prisma.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: new Date(now) } });
  }
  const rolePermissions = row.user.role.permissions;
  // The owner's role is read on every request, so a role change narrows existing keys too.
  const permissions = row.permissions.length
    ? row.permissions.filter((p) => rolePermissions.includes(p))
    : rolePermissions;
  return makeCtx(
    { userId: row.userId, roleName: row.user.roleName, permissions, via: 'apikey', apiKeyId: row.id },
    requestId,
  );
}
