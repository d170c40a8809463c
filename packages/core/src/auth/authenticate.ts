import { makeCtx, type RequestCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';
import { Unauthorized } from '../errors.ts';
import { loadUserActor, runtimeSessionCtx } from '../sessions.ts';
import { hashToken, LOCAL_USER_ID } from '../users.ts';

/** How a request presented itself; `authenticate` is the one place that turns it into an actor. */
export interface Credentials {
  sessionId?: string | undefined;
  bearerToken?: string | undefined;
  /** The peer is loopback and AUTH_MODE is local. */
  localTrusted: boolean;
  requestId?: string | undefined;
}

export async function authenticate(deps: CoreDeps, creds: Credentials): Promise<RequestCtx> {
  if (creds.sessionId) return runtimeSessionCtx(deps, creds.sessionId, creds.requestId);
  if (creds.bearerToken) {
    const user = await deps.prisma.user.findUnique({
      where: { tokenHash: hashToken(creds.bearerToken) },
      include: { role: true },
    });
    if (!user || user.disabled) throw new Unauthorized('the bearer token is not valid');
    return makeCtx(
      { userId: user.id, roleName: user.roleName, permissions: user.role.permissions, via: 'token' },
      creds.requestId,
    );
  }
  if (creds.localTrusted) {
    const actor = await loadUserActor(deps, LOCAL_USER_ID, 'local');
    if (actor) return makeCtx(actor, creds.requestId);
  }
  throw new Unauthorized('credentials required: pass a session_id or an Authorization: Bearer token');
}
