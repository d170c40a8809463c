import type { SessionDto } from '@ccl/contracts';
import { writeAudit } from './audit.ts';
import { type Actor, makeCtx, type RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { Forbidden, NotFound, Unauthorized } from './errors.ts';
import { LOCAL_USER_ID } from './users.ts';

/** Sessions are touched at most this often, so polling does not write on every read. */
const TOUCH_EVERY_MS = 30_000;

export async function loadUserActor(
  deps: CoreDeps,
  userId: string,
  via: Actor['via'],
): Promise<Actor | null> {
  const user = await deps.prisma.user.findUnique({ where: { id: userId }, include: { role: true } });
  if (!user || user.disabled) return null;
  return { userId: user.id, roleName: user.roleName, permissions: user.role.permissions, via };
}

/** The actor behind a runtime session id (CoderClaw's session_id); NotFound when it is not a live session. */
export async function runtimeSessionCtx(
  deps: CoreDeps,
  sessionId: string,
  requestId?: string,
): Promise<RequestCtx> {
  const cached = deps.cache?.session(sessionId);
  if (cached) return { ...cached, ...(requestId ? { requestId } : {}) };
  const session = await deps.prisma.runtimeSession.findUnique({
    where: { id: sessionId },
    include: { user: { include: { role: true } } },
  });
  if (!session || session.revokedAt || session.user.disabled) {
    throw new NotFound(`unknown session '${sessionId}'; create one with POST /api/runtime/sessions`);
  }
  if (Date.now() - session.lastActivity.getTime() > TOUCH_EVERY_MS) {
    await deps.prisma.runtimeSession.update({
      where: { id: session.id },
      data: { lastActivity: new Date() },
    });
  }
  const ctx = makeCtx(
    {
      userId: session.userId,
      roleName: session.user.roleName,
      permissions: session.user.role.permissions,
      via: 'session',
      sessionId: session.id,
      deviceId: session.deviceId,
    },
    requestId,
  );
  deps.cache?.rememberSession(session.id, { actor: ctx.actor, ability: ctx.ability });
  return ctx;
}

/**
 * POST /api/runtime/sessions. With a user_id the user must exist; without one,
 * a trusted loopback caller gets the built-in local developer.
 */
export async function createRuntimeSession(
  deps: CoreDeps,
  input: {
    userId?: string | undefined;
    deviceId?: string | undefined;
    localTrusted: boolean;
    requestId?: string | undefined;
  },
): Promise<SessionDto> {
  const userId = input.userId ?? (input.localTrusted ? LOCAL_USER_ID : undefined);
  if (!userId) throw new Unauthorized('user_id is required for sessions from outside this machine');
  const actor = await loadUserActor(deps, userId, 'session');
  const ctx = makeCtx(
    actor ?? { userId, roleName: 'NONE', permissions: [], via: 'session', deviceId: input.deviceId ?? null },
    input.requestId,
  );
  if (!actor) {
    await deps.prisma.$transaction((tx) =>
      writeAudit(tx, ctx, {
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
  const session = await deps.prisma.$transaction(async (tx) => {
    const created = await tx.runtimeSession.create({ data: { userId, deviceId: input.deviceId ?? null } });
    await writeAudit(
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
    session_id: session.id,
    user_id: userId,
    created_at: session.createdAt.toISOString(),
    last_activity: session.lastActivity.toISOString(),
    permissions: actor.permissions,
  };
}

/**
 * CoderClaw polls task state without a session id. The task id (a random UUID the
 * submitter received) then stands for the session that submitted it, as long as
 * that session is still valid; an unknown task has no session and answers 404.
 */
export async function sessionOfTask(deps: CoreDeps, taskId: string): Promise<string> {
  const latest = await deps.prisma.execution.findFirst({
    where: { taskId },
    orderBy: { createdAt: 'desc' },
    select: { sessionId: true },
  });
  if (!latest) throw new NotFound(`task ${taskId} not found`);
  if (!latest.sessionId)
    throw new Unauthorized('credentials required: pass a session_id or an Authorization: Bearer token');
  return latest.sessionId;
}
