import { createHash, randomBytes } from 'node:crypto';
import { writeAudit } from '../audit.ts';
import { authorize } from '../authorize.ts';
import { has, makeCtx, type RequestCtx, systemCtx } from '../context.ts';
import { announceCredentialChange } from '../credential-change.ts';
import type { CoreDeps, Tx } from '../deps.ts';
import { Invalid, NotFound, RateLimited, Unauthorized } from '../errors.ts';
import { recordRefusal } from '../refusals.ts';
import { hashToken } from '../users.ts';
import { decoyHash, hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from './password.ts';
import { lockSignIns, signInRefusal } from './sign-in-limit.ts';

/** lastSeenAt is written at most this often. */
const TOUCH_EVERY_MS = 60_000;
/** How long a sign-in may wait for the others at the same account, and then take. */
const SIGN_IN_WAIT_MS = 30_000;

export const SESSION_COOKIE = 'ccl_session';

/** The CSRF token of a browser session: derived from its secret, so it needs no storage. */
export const csrfTokenOf = (sessionToken: string) =>
  createHash('sha256').update(`csrf:${sessionToken}`).digest('base64url');

export interface SignInInput {
  userId: string;
  password: string;
  ip?: string | undefined;
  userAgent?: string | undefined;
  requestId?: string | undefined;
}

/**
 * Checks a password and opens a browser session. Failures are audited (that is also
 * the counter the limits read, so they hold across API processes) and all look the
 * same to the caller, whether the account exists or not.
 */
export async function signIn(deps: CoreDeps, input: SignInInput) {
  const ctx = makeCtx(
    { userId: input.userId, roleName: 'NONE', permissions: [], via: 'cookie' },
    input.requestId,
  );
  const user = await deps.prisma.user.findUnique({ where: { id: input.userId }, include: { role: true } });
  const token = randomBytes(32).toString('base64url');
  // Counting, checking and recording happen under the account's lock, in one transaction: the
  // next attempt at this account sees this one's failure. Throwing inside would roll the failure's
  // audit row back, so the outcome is returned and thrown after the commit.
  const outcome = await deps.prisma.$transaction(
    async (tx) => {
      await lockSignIns(tx, input.userId);
      const refusal = await signInRefusal(tx, input.userId, input.ip);
      if (refusal) return { kind: 'limited', refusal } as const;
      const stored = user?.passwordHash ?? (await decoyHash());
      const ok = (await verifyPassword(input.password, stored)) && !!user?.passwordHash && !user.disabled;
      if (!ok || !user) {
        await writeAudit(deps, tx, ctx, {
          action: 'auth.signin',
          resourceType: 'user',
          resourceId: input.userId,
          outcome: 'DENIED',
          detail: { ip: input.ip ?? null, reason: !user ? 'unknown user' : 'bad password or disabled' },
        });
        return { kind: 'denied' } as const;
      }
      return {
        kind: 'signed-in',
        session: await openWebSession(deps, tx, ctx, { user, input, token }),
      } as const;
    },
    // Attempts at one account wait for each other; a burst of them must not time out waiting.
    { maxWait: SIGN_IN_WAIT_MS, timeout: SIGN_IN_WAIT_MS },
  );
  if (outcome.kind === 'limited') throw new RateLimited(outcome.refusal);
  if (outcome.kind === 'denied') throw new Unauthorized('wrong user id or password');
  const { session } = outcome;
  return { token, csrfToken: csrfTokenOf(token), expiresAt: session.expiresAt, userId: session.userId };
}

async function openWebSession(
  deps: CoreDeps,
  tx: Tx,
  ctx: RequestCtx,
  { user, input, token }: { user: { id: string; roleName: string }; input: SignInInput; token: string },
) {
  const session = await tx.webSession.create({
    data: {
      tokenHash: hashToken(token),
      userId: user.id,
      expiresAt: new Date(Date.now() + deps.config.WEB_SESSION_TTL_S * 1000),
      ip: input.ip ?? null,
      userAgent: input.userAgent?.slice(0, 300) ?? null,
    },
  });
  await writeAudit(
    deps,
    tx,
    { ...ctx, actor: { ...ctx.actor, roleName: user.roleName, webSessionId: session.id } },
    {
      action: 'auth.signin',
      resourceType: 'user',
      resourceId: user.id,
      outcome: 'ALLOWED',
      detail: { ip: input.ip ?? null, web_session: session.id },
    },
  );
  return session;
}

/** The actor behind a session cookie, or null when the cookie names no live session. */
export async function webSessionCtx(
  deps: CoreDeps,
  token: string,
  requestId?: string,
): Promise<RequestCtx | null> {
  const session = await deps.prisma.webSession.findUnique({
    where: { tokenHash: hashToken(token) },
    include: { user: { include: { role: true } } },
  });
  const now = Date.now();
  if (
    !session ||
    session.revokedAt ||
    session.user.disabled ||
    session.expiresAt.getTime() <= now ||
    now - session.lastSeenAt.getTime() > deps.config.WEB_SESSION_IDLE_S * 1000
  ) {
    return null;
  }
  if (now - session.lastSeenAt.getTime() > TOUCH_EVERY_MS) {
    await deps.prisma.webSession.update({ where: { id: session.id }, data: { lastSeenAt: new Date(now) } });
  }
  return makeCtx(
    {
      userId: session.userId,
      roleName: session.user.roleName,
      permissions: session.user.role.permissions,
      via: 'cookie',
      webSessionId: session.id,
    },
    requestId,
  );
}

export async function signOut(deps: CoreDeps, ctx: RequestCtx): Promise<void> {
  if (!ctx.actor.webSessionId) throw new Invalid('not signed in with a browser session');
  await revokeWebSession(deps, ctx, ctx.actor.webSessionId);
}

/** Own sessions, or everyone's with user:manage. */
export async function listWebSessions(deps: CoreDeps, ctx: RequestCtx, userId?: string) {
  const target = userId ?? ctx.actor.userId;
  if (target !== ctx.actor.userId)
    await authorize(deps, ctx, 'user:manage', { resourceType: 'user', resourceId: target });
  const rows = await deps.prisma.webSession.findMany({
    where: { userId: target, revokedAt: null, expiresAt: { gt: new Date() } },
    orderBy: { createdAt: 'desc' },
  });
  return rows.map((s) => ({
    id: s.id,
    user_id: s.userId,
    created_at: s.createdAt.toISOString(),
    last_seen_at: s.lastSeenAt.toISOString(),
    expires_at: s.expiresAt.toISOString(),
    ip: s.ip,
    user_agent: s.userAgent,
    current: s.id === ctx.actor.webSessionId,
  }));
}

/** Revokes at once: the next request with that cookie is anonymous. */
export async function revokeWebSession(deps: CoreDeps, ctx: RequestCtx, id: string): Promise<void> {
  const session = await deps.prisma.webSession.findUnique({ where: { id } });
  if (!session) throw new NotFound(`session ${id} not found`);
  if (session.userId !== ctx.actor.userId && !has(ctx, 'user:manage')) {
    const reason = "another user's browser session (lacks user:manage)";
    await recordRefusal(deps, ctx, {
      action: 'auth.session.revoke',
      resourceType: 'web_session',
      resourceId: id,
      reason,
    });
    throw new NotFound(`session ${id} not found`);
  }
  await deps.prisma.$transaction(async (tx) => {
    await tx.webSession.update({ where: { id }, data: { revokedAt: session.revokedAt ?? new Date() } });
    await announceCredentialChange(tx);
    await writeAudit(deps, tx, ctx, {
      action: 'auth.session.revoke',
      resourceType: 'web_session',
      resourceId: id,
      outcome: 'ALLOWED',
      detail: { user_id: session.userId },
    });
  });
}

export function checkPasswordStrength(password: string, userId: string) {
  if (password.length < MIN_PASSWORD_LENGTH) {
    throw new Invalid(`the password must have at least ${MIN_PASSWORD_LENGTH} characters`);
  }
  if (password.toLowerCase().includes(userId.toLowerCase())) {
    throw new Invalid('the password must not contain the user id');
  }
}

/**
 * Sets a password and signs the user out everywhere else. From the CLI (operator) no
 * current password is needed; a user changing their own gives the current one.
 */
export async function setPassword(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
  input: { userId: string; password: string; ctx?: RequestCtx; keepWebSessionId?: string },
): Promise<void> {
  checkPasswordStrength(input.password, input.userId);
  const user = await deps.prisma.user.findUnique({ where: { id: input.userId } });
  if (!user) throw new NotFound(`user '${input.userId}' not found`);
  const passwordHash = await hashPassword(input.password);
  await deps.prisma.$transaction(async (tx) => {
    await tx.user.update({ where: { id: user.id }, data: { passwordHash } });
    await tx.webSession.updateMany({
      where: {
        userId: user.id,
        revokedAt: null,
        ...(input.keepWebSessionId ? { id: { not: input.keepWebSessionId } } : {}),
      },
      data: { revokedAt: new Date() },
    });
    await announceCredentialChange(tx);
    await writeAudit(deps, tx, input.ctx ?? systemCtx(), {
      action: 'user.password',
      resourceType: 'user',
      resourceId: user.id,
      outcome: 'ALLOWED',
      detail: { via: input.ctx ? 'api' : 'cli' },
    });
  });
}

export async function changeOwnPassword(
  deps: CoreDeps,
  ctx: RequestCtx,
  input: { currentPassword: string; newPassword: string },
): Promise<void> {
  const user = await deps.prisma.user.findUnique({ where: { id: ctx.actor.userId } });
  if (!user?.passwordHash || !(await verifyPassword(input.currentPassword, user.passwordHash))) {
    throw new Invalid('the current password is wrong');
  }
  await setPassword(deps, {
    userId: user.id,
    password: input.newPassword,
    ctx,
    ...(ctx.actor.webSessionId ? { keepWebSessionId: ctx.actor.webSessionId } : {}),
  });
}

/** GET /api/auth/me: who the caller is and what they may do. */
export async function whoAmI(deps: CoreDeps, ctx: RequestCtx, cookieToken?: string) {
  const user = await deps.prisma.user.findUnique({ where: { id: ctx.actor.userId } });
  return {
    user_id: ctx.actor.userId,
    name: user?.name ?? null,
    role: ctx.actor.roleName,
    permissions: ctx.actor.permissions,
    via: ctx.actor.via,
    csrf_token: ctx.actor.via === 'cookie' && cookieToken ? csrfTokenOf(cookieToken) : null,
    auth_mode: deps.config.authMode,
  };
}
