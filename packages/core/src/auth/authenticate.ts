import { makeCtx, type RequestCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';
import { Unauthorized } from '../errors.ts';
import { loadUserActor, runtimeSessionCtx } from '../sessions.ts';
import { hashToken, LOCAL_USER_ID } from '../users.ts';
import { apiKeyCtx } from './api-keys.ts';
import { webSessionCtx } from './web-sessions.ts';

/** How a request presented itself; `authenticate` is the one place that turns it into an actor. */
export interface Credentials {
  sessionId?: string | undefined;
  bearerToken?: string | undefined;
  /** The browser sign-in cookie's value. */
  cookieToken?: string | undefined;
  /** The peer is loopback and AUTH_MODE is local. */
  localTrusted: boolean;
  requestId?: string | undefined;
}

const NEED_CREDENTIALS =
  'credentials required: sign in, pass a session_id, or send an Authorization: Bearer API key';

/** Precedence: runtime session, then bearer key, then the sign-in cookie, then the local developer. */
export async function authenticate(deps: CoreDeps, creds: Credentials): Promise<RequestCtx> {
  if (creds.sessionId) return runtimeSessionCtx(deps, creds.sessionId, creds.requestId);
  if (creds.bearerToken) return bearerCtx(deps, creds.bearerToken, creds.requestId);
  if (creds.cookieToken) {
    const ctx = await webSessionCtx(deps, creds.cookieToken, creds.requestId);
    if (ctx) return ctx;
    if (!creds.localTrusted) throw new Unauthorized('your sign-in has expired or was revoked; sign in again');
  }
  if (creds.localTrusted) {
    const actor = await loadUserActor(deps, LOCAL_USER_ID, 'local');
    if (actor) return makeCtx(actor, creds.requestId);
  }
  throw new Unauthorized(NEED_CREDENTIALS);
}

async function bearerCtx(deps: CoreDeps, token: string, requestId?: string): Promise<RequestCtx> {
  const fromKey = await apiKeyCtx(deps, token, requestId);
  if (fromKey) return fromKey;
  // The first admin's bootstrap token (users.token_hash) predates personal keys and still works.
  const user = await deps.prisma.user.findUnique({
    where: { tokenHash: hashToken(token) },
    include: { role: true },
  });
  if (!user || user.disabled)
    throw new Unauthorized('the API key is not valid (unknown, revoked or expired)');
  return makeCtx(
    { userId: user.id, roleName: user.roleName, permissions: user.role.permissions, via: 'token' },
    requestId,
  );
}
