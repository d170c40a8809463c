import { randomBytes } from 'node:crypto';
import { writeAudit } from '../audit.ts';
import { authorize } from '../authorize.ts';
import { has, makeCtx, type RequestCtx } from '../context.ts';
import { announceCredentialChange } from '../credential-change.ts';
import type { CoreDeps } from '../deps.ts';
import { Forbidden, Invalid, NotFound } from '../errors.ts';
import { recordRefusal } from '../refusals.ts';
import { hashToken } from '../users.ts';

/** The CLI manages keys with the database alone. */
type KeyDeps = Pick<CoreDeps, 'prisma' | 'audit' | 'refusals' | 'cache'>;

/** lastUsedAt is written at most this often. */
const TOUCH_EVERY_MS = 60_000;

export interface CreateKeyInput {
  name: string;
  /**
   * A subset of the owner's permissions and of the caller's. Empty or absent: all of the owner's
   * (following later role changes) when the caller holds them all, else the caller's share of them.
   */
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

/**
 * The permissions a new key is stored with, never more than the calling credential holds: a key
 * narrowed to task:view must not mint one with its owner's whole role. `[]` stores "the owner's
 * role", so it is kept only for a caller who holds all of that role.
 */
async function withinCaller(deps: KeyDeps, ctx: RequestCtx, role: string[], requested: string[]) {
  const held = new Set(ctx.actor.permissions);
  const lacking = (requested.length ? requested : role).filter((p) => !held.has(p));
  if (!lacking.length) return requested;
  const share = role.filter((p) => held.has(p));
  if (!requested.length && share.length) return share;
  const reason = `the calling credential lacks ${lacking.join(', ')}`;
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action: 'apikey.create',
      resourceType: 'api_key',
      resourceId: null,
      outcome: 'DENIED',
      detail: { reason, permissions: requested },
    }),
  );
  throw new Forbidden(
    `a new key carries at most the permissions of the key or session that creates it; ${reason}`,
  );
}

/** Creates a key and returns it once; only its sha256 is kept. */
export async function createApiKey(deps: KeyDeps, ctx: RequestCtx, input: CreateKeyInput) {
  const userId = await ownerOf(deps, ctx, input.userId);
  const owner = await deps.prisma.user.findUnique({ where: { id: userId }, include: { role: true } });
  if (!owner || owner.disabled) throw new NotFound(`user '${userId}' not found`);
  const requested = [...new Set(input.permissions ?? [])];
  const beyond = requested.filter((p) => !owner.role.permissions.includes(p));
  if (beyond.length) {
    const reason = `a key can only carry its owner's permissions; '${userId}' lacks ${beyond.join(', ')}`;
    await recordRefusal(deps, ctx, { action: 'apikey.create', resourceType: 'api_key', reason });
    throw new Invalid(reason);
  }
  const wanted = await withinCaller(deps, ctx, owner.role.permissions, requested);
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
  // Someone else's key is invisible without apikey:manage: 404, not 403 (but audited).
  if (!row) throw new NotFound(`API key ${id} not found`);
  if (row.userId !== ctx.actor.userId && !has(ctx, 'apikey:manage')) {
    const reason = "another user's key (lacks apikey:manage)";
    await recordRefusal(deps, ctx, {
      action: 'apikey.revoke',
      resourceType: 'api_key',
      resourceId: id,
      reason,
    });
    throw new NotFound(`API key ${id} not found`);
  }
  const updated = await deps.prisma.$transaction(async (tx) => {
    const revoked = await tx.apiKey.update({
      where: { id },
      data: { revokedAt: row.revokedAt ?? new Date() },
    });
    await announceCredentialChange(tx);
    await writeAudit(deps, tx, ctx, {
      action: 'apikey.revoke',
      resourceType: 'api_key',
      resourceId: id,
      outcome: 'ALLOWED',
      detail: { owner: row.userId },
    });
    return revoked;
  });
  // This process forgets at once; the notice sent with the commit reaches the other API processes.
  deps.cache?.forgetAllSessions();
  return toApiKeyDto(updated);
}

/** Why a key that exists was refused; the refusal's audit row names the key and its owner. */
export interface KeyRefusal {
  keyId: string;
  userId: string;
  reason: string;
}

function keyRefusal(
  row: { revokedAt: Date | null; expiresAt: Date | null; user: { disabled: boolean } },
  now: number,
): string | null {
  if (row.revokedAt) return 'revoked API key';
  if (row.expiresAt && row.expiresAt.getTime() <= now) return 'expired API key';
  if (row.user.disabled) return "the key's owner is disabled";
  return null;
}

/**
 * The actor behind an API key; a KeyRefusal when the key is revoked, expired or its owner disabled;
 * null when no key has this value. A key that authenticates is kept in the read cache (until the next
 * revocation notice, its expiry or a few seconds): the new adapter polls with it every second.
 */
export async function apiKeyCtx(
  deps: CoreDeps,
  key: string,
  requestId?: string,
): Promise<RequestCtx | KeyRefusal | null> {
  const keyHash = hashToken(key);
  const cached = deps.cache?.credential(`apikey:${keyHash}`);
  const read = cached ? { ctx: cached } : await loadApiKey(deps, keyHash);
  if (!read || !('ctx' in read)) return read;
  return requestId ? { ...read.ctx, requestId } : read.ctx;
}

type KeyRead = { ctx: RequestCtx; until: number | null } | KeyRefusal | null;

function loadApiKey(deps: CoreDeps, keyHash: string): Promise<KeyRead> {
  if (!deps.cache) return readApiKey(deps, keyHash);
  return deps.cache.loadCredential(
    `apikey:${keyHash}`,
    () => readApiKey(deps, keyHash),
    (read) => (read && 'ctx' in read ? read : null),
  );
}

async function readApiKey(deps: CoreDeps, keyHash: string): Promise<KeyRead> {
  const row = await deps.prisma.apiKey.findUnique({
    where: { keyHash },
    include: { user: { include: { role: true } } },
  });
  const now = Date.now();
  if (!row) return null;
  const refusal = keyRefusal(row, now);
  if (refusal) return { keyId: row.id, userId: row.userId, reason: refusal };
  if (!row.lastUsedAt || now - row.lastUsedAt.getTime() > TOUCH_EVERY_MS) {
    await deps.prisma.apiKey.update({ where: { id: row.id }, data: { lastUsedAt: new Date(now) } });
  }
  const rolePermissions = row.user.role.permissions;
  // The owner's role is read afresh after every revocation notice (a role change sends one), so a
  // role change narrows existing keys too.
  const permissions = row.permissions.length
    ? row.permissions.filter((p) => rolePermissions.includes(p))
    : rolePermissions;
  return {
    ctx: makeCtx({
      userId: row.userId,
      roleName: row.user.roleName,
      permissions,
      via: 'apikey',
      apiKeyId: row.id,
    }),
    until: row.expiresAt?.getTime() ?? null,
  };
}
