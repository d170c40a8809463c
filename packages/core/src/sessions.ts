import { randomBytes } from 'node:crypto';
import type { SessionDto } from '@ccl/contracts';
import { writeAudit } from './audit.ts';
import { type Actor, makeCtx, type RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { refuseNamesAlone } from './device-pairing.ts';
import { Forbidden, NotFound, Unauthorized } from './errors.ts';
import type { TaskSubmitter } from './read-cache.ts';
import { anonymousCtx, recordRefusal } from './refusals.ts';
import { SUBMITTED_EXECUTION } from './runtime-task.ts';
import { hashToken, LOCAL_USER_ID } from './users.ts';

/** Sessions are touched at most this often, so polling does not write on every read. */
const TOUCH_EVERY_MS = 30_000;

/** 128 random bits, written like a UUID (8-4-4-4-12 hex) so CoderClaw and our schemas take it as an id. */
export function newSessionToken(): string {
  const hex = randomBytes(16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Recently seen session ids and their hashes: a poll's id costs a map lookup, not a sha256. */
const recentHashes = new Map<string, string>();
const RECENT_HASHES_MAX = 10_000;

/** What the database keeps of a session id: its sha256 (the id is case-insensitive hex). */
export function sessionTokenHash(token: string): string {
  let hash = recentHashes.get(token);
  if (hash === undefined) {
    hash = hashToken(token.toLowerCase());
    // Bounded: ids nobody uses any more (or made up by a caller) cannot grow it without limit.
    if (recentHashes.size >= RECENT_HASHES_MAX) recentHashes.clear();
    recentHashes.set(token, hash);
  }
  return hash;
}

export async function loadUserActor(
  deps: CoreDeps,
  userId: string,
  via: Actor['via'],
): Promise<Actor | null> {
  const user = await deps.prisma.user.findUnique({ where: { id: userId }, include: { role: true } });
  if (!user || user.disabled) return null;
  return { userId: user.id, roleName: user.roleName, permissions: user.role.permissions, via };
}

const unknownSession = (shown: string) =>
  new NotFound(`unknown session '${shown}'; create one with POST /api/runtime/sessions`);

/** The actor behind a runtime session id (CoderClaw's session_id); NotFound when it is not a live session. */
export async function runtimeSessionCtx(
  deps: CoreDeps,
  sessionId: string,
  requestId?: string,
): Promise<RequestCtx> {
  const tokenHash = sessionTokenHash(sessionId);
  // Not through sessionCtxByHash: this is every poll, and a cache hit needs no await.
  const found = deps.cache?.session(tokenHash) ?? (await loadLiveSession(deps, tokenHash));
  if (!found) throw unknownSession(sessionId);
  return { ...found, ...(requestId ? { requestId } : {}) };
}

/**
 * A session is live while it is not revoked, its user is enabled, and it was used within
 * RUNTIME_SESSION_IDLE_S. Rows from before ids were hashed have no token_hash and never match.
 */
async function sessionCtxByHash(
  deps: CoreDeps,
  tokenHash: string,
  requestId?: string,
): Promise<RequestCtx | null> {
  const found = deps.cache?.session(tokenHash) ?? (await loadLiveSession(deps, tokenHash));
  return found && { ...found, ...(requestId ? { requestId } : {}) };
}

/** A cache miss: one database read shared by concurrent requests for the session (and kept). */
function loadLiveSession(deps: CoreDeps, tokenHash: string) {
  return deps.cache
    ? deps.cache.loadSession(tokenHash, () => loadSessionCtx(deps, tokenHash))
    : loadSessionCtx(deps, tokenHash);
}

async function loadSessionCtx(deps: CoreDeps, tokenHash: string): Promise<RequestCtx | null> {
  const session = await deps.prisma.runtimeSession.findUnique({
    where: { tokenHash },
    include: { user: { include: { role: true } } },
  });
  const now = Date.now();
  const idle = session ? now - session.lastActivity.getTime() : 0;
  if (
    !session ||
    session.revokedAt ||
    session.user.disabled ||
    idle > deps.config.RUNTIME_SESSION_IDLE_S * 1000
  ) {
    return null;
  }
  if (idle > TOUCH_EVERY_MS) {
    await deps.prisma.runtimeSession.update({
      where: { id: session.id },
      data: { lastActivity: new Date(now) },
    });
  }
  return makeCtx({
    userId: session.userId,
    roleName: session.user.roleName,
    permissions: session.user.role.permissions,
    via: 'session',
    sessionId: session.id,
    deviceId: session.deviceId,
  });
}

export interface CreateSessionInput {
  userId?: string | undefined;
  deviceId?: string | undefined;
  /** AUTH_MODE local and a loopback peer: sessions need no pairing, and no user_id means `local`. */
  localTrusted: boolean;
  /**
   * The actor a key in the base URL (`/k/<key>`) proved: a device secret (the device's stored
   * session), or an API key, which then stands in for pairing.
   */
  credential?: RequestCtx | undefined;
  /** The board's page where devices are approved, named in the pairing answer. */
  devicesUrl: string;
  requestIp?: string | undefined;
  requestId?: string | undefined;
}

/**
 * POST /api/runtime/sessions. A trusted loopback caller gets a session at once (the built-in
 * local developer without a user_id). Anyone else proves who they are with a key in the base URL:
 * the secret of an approved device, or an API key. Names alone only ask for pairing (403).
 */
export async function createRuntimeSession(deps: CoreDeps, input: CreateSessionInput): Promise<SessionDto> {
  if (input.credential?.actor.via === 'device') return deviceSession(deps, input.credential, input);
  if (input.credential) return keyBoundSession(deps, input.credential, input);
  const userId = input.userId ?? (input.localTrusted ? LOCAL_USER_ID : undefined);
  if (!userId) {
    await recordRefusal(deps, anonymousCtx(input.requestId), {
      action: 'auth.refused',
      resourceType: 'credential',
      reason: 'a runtime session was asked for with no credential and no user_id',
      address: input.requestIp,
    });
    throw new Unauthorized(
      'credentials required: use the base URL an approved device was given (…/k/<secret>) or an API key (…/k/<key>), or send user_id and device_id to ask for pairing',
    );
  }
  const actor = await loadUserActor(deps, userId, 'session');
  const deviceId = input.deviceId ?? null;
  const ctx = makeCtx(
    actor ? { ...actor, deviceId } : { userId, roleName: 'NONE', permissions: [], via: 'session', deviceId },
    input.requestId,
  );
  if (!actor) {
    await deps.prisma.$transaction((tx) =>
      writeAudit(deps, tx, ctx, {
        action: 'session.create',
        resourceType: 'session',
        outcome: 'DENIED',
        detail: { reason: 'unknown user', device_id: input.deviceId ?? null },
      }),
    );
    throw new Forbidden(
      `unknown user '${userId}'; an admin can add it with: npm run clawlink -- user add ${userId} --role DEVELOPER`,
    );
  }
  if (!input.localTrusted) {
    return refuseNamesAlone(deps, ctx, {
      userId,
      deviceId: input.deviceId,
      requestIp: input.requestIp,
      devicesUrl: input.devicesUrl,
    });
  }
  return storedSession(deps, ctx, input.deviceId ?? null);
}

/** A session row (its id stored hashed), audited; ended by idleness, revocation of it or of its device. */
async function storedSession(deps: CoreDeps, ctx: RequestCtx, deviceId: string | null): Promise<SessionDto> {
  const { userId } = ctx.actor;
  const token = newSessionToken();
  const session = await deps.prisma.$transaction(async (tx) => {
    const created = await tx.runtimeSession.create({
      data: { userId, deviceId, tokenHash: sessionTokenHash(token) },
    });
    await writeAudit(
      deps,
      tx,
      { ...ctx, actor: { ...ctx.actor, sessionId: created.id, deviceId: created.deviceId } },
      {
        action: 'session.create',
        resourceType: 'session',
        resourceId: created.id,
        outcome: 'ALLOWED',
        detail: { device_id: created.deviceId },
      },
    );
    return created;
  });
  return {
    session_id: token,
    user_id: userId,
    created_at: session.createdAt.toISOString(),
    last_activity: session.lastActivity.toISOString(),
    permissions: ctx.actor.permissions,
  };
}

/**
 * A device secret in the base URL names its device and owner: names the adapter sends must agree
 * (absent ones are taken from the secret). The session is stored like a paired device's always was.
 */
async function deviceSession(deps: CoreDeps, credential: RequestCtx, input: CreateSessionInput) {
  const ctx = { ...credential, ...(input.requestId ? { requestId: input.requestId } : {}) };
  const { userId: owner, deviceId: device } = credential.actor;
  const mismatch =
    (input.userId !== undefined && input.userId !== owner) ||
    (input.deviceId !== undefined && input.deviceId !== device);
  if (mismatch) {
    const asked = `device '${input.deviceId ?? device}' of user '${input.userId ?? owner}'`;
    await deps.prisma.$transaction((tx) =>
      writeAudit(deps, tx, ctx, {
        action: 'session.create',
        resourceType: 'session',
        outcome: 'DENIED',
        detail: {
          reason: `device secret used for ${asked}`,
          user_id: input.userId ?? null,
          device_id: input.deviceId ?? null,
        },
      }),
    );
    throw new Forbidden(
      `the secret in the URL is the one of device '${device}' of user '${owner}', not of ${asked}`,
    );
  }
  return storedSession(deps, ctx, device ?? null);
}

/**
 * With a key in the base URL every later request carries the key too, and the key is what
 * authenticates them (with its own, possibly narrower, permissions). The session id handed out
 * is therefore not stored: alone, without the key, it opens nothing.
 */
async function keyBoundSession(
  deps: CoreDeps,
  credential: RequestCtx,
  input: CreateSessionInput,
): Promise<SessionDto> {
  const ctx = {
    ...credential,
    actor: { ...credential.actor, deviceId: input.deviceId ?? null },
    ...(input.requestId ? { requestId: input.requestId } : {}),
  };
  const owner = credential.actor.userId;
  if (input.userId && input.userId !== owner) {
    await deps.prisma.$transaction((tx) =>
      writeAudit(deps, tx, ctx, {
        action: 'session.create',
        resourceType: 'session',
        outcome: 'DENIED',
        detail: { reason: 'key of another user', user_id: input.userId, device_id: input.deviceId ?? null },
      }),
    );
    throw new Forbidden(`the key in the URL belongs to '${owner}', not to '${input.userId}'`);
  }
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action: 'session.create',
      resourceType: 'session',
      outcome: 'ALLOWED',
      detail: { via: credential.actor.via, device_id: input.deviceId ?? null, bound_to_key: true },
    }),
  );
  const now = new Date().toISOString();
  return {
    session_id: newSessionToken(),
    user_id: owner,
    created_at: now,
    last_activity: now,
    permissions: credential.actor.permissions,
  };
}

/**
 * CoderClaw polls task state (and may cancel) without a session id. The task id (a random UUID the
 * submitter received) then stands for the session that submitted it, as long as
 * that session is still live; an unknown task has no session and answers 404.
 */
export async function taskSessionCtx(
  deps: CoreDeps,
  taskId: string,
  requestId?: string,
): Promise<RequestCtx> {
  // Cached, and its session until a revocation notice: an unchanged task's poll reads nothing. An
  // unknown id is never kept (those polls are limited per address, failed-poll-limit.ts).
  const { session } =
    deps.cache?.taskSubmitter(taskId) ??
    (await (deps.cache
      ? deps.cache.loadTaskSubmitter(taskId, () => readTaskSubmitter(deps, taskId))
      : readTaskSubmitter(deps, taskId)));
  if (!session) {
    await recordRefusal(deps, anonymousCtx(requestId), {
      action: 'auth.refused',
      resourceType: 'task',
      resourceId: taskId,
      reason: "a state poll without credentials for a task its submitter's session cannot vouch for",
    });
    throw new Unauthorized('credentials required: pass a session_id or an Authorization: Bearer token');
  }
  const ctx = session.tokenHash ? await sessionCtxByHash(deps, session.tokenHash, requestId) : null;
  if (!ctx) {
    throw new NotFound(
      `the session that submitted task ${taskId} has ended (revoked or idle); create one with POST /api/runtime/sessions`,
    );
  }
  return ctx;
}

async function readTaskSubmitter(deps: CoreDeps, taskId: string): Promise<TaskSubmitter> {
  const submitted = await deps.prisma.execution.findFirst({
    where: { taskId },
    orderBy: SUBMITTED_EXECUTION.orderBy,
    select: { id: true, session: { select: { tokenHash: true } } },
  });
  if (!submitted) throw new NotFound(`task ${taskId} not found`);
  return { executionId: submitted.id, session: submitted.session };
}
