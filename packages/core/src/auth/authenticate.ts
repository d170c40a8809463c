import { makeCtx, type RequestCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';
import { deviceSecretCtx, isDeviceSecret } from '../device-secrets.ts';
import { NotFound, Unauthorized } from '../errors.ts';
import { anonymousCtx, recordRefusal } from '../refusals.ts';
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
  /** The client's address: refusals are recorded (and counted) by it. */
  ip?: string | undefined;
}

const NEED_CREDENTIALS =
  'credentials required: sign in, pass a session_id, or send an Authorization: Bearer API key';

/** Records the refused credentials (a DENIED auth.refused row) and returns the error to throw. */
async function refused<E extends Error>(
  deps: CoreDeps,
  creds: Credentials,
  error: E,
  why: { reason: string; credential?: string; owner?: string },
): Promise<E> {
  // A key that exists names its owner: their refused keys show up under their name.
  const ctx = why.owner
    ? makeCtx({ userId: why.owner, roleName: 'NONE', permissions: [], via: 'token' }, creds.requestId)
    : anonymousCtx(creds.requestId);
  await recordRefusal(deps, ctx, {
    action: 'auth.refused',
    resourceType: 'credential',
    resourceId: why.credential ?? null,
    reason: why.reason,
    address: creds.ip,
    credential: why.credential,
  });
  return error;
}

/** Precedence: runtime session, then bearer key, then the sign-in cookie, then the local developer. */
export async function authenticate(deps: CoreDeps, creds: Credentials): Promise<RequestCtx> {
  if (creds.sessionId) return sessionCtx(deps, creds, creds.sessionId);
  if (creds.bearerToken) return bearerCtx(deps, creds, creds.bearerToken);
  if (creds.cookieToken) {
    const ctx = await webSessionCtx(deps, creds.cookieToken, creds.requestId);
    if (ctx) return ctx;
    if (!creds.localTrusted) {
      const error = new Unauthorized('your sign-in has expired or was revoked; sign in again');
      throw await refused(deps, creds, error, {
        reason: 'the sign-in cookie names no live session (expired, revoked or made up)',
      });
    }
  }
  if (creds.localTrusted) {
    const ctx = deps.cache?.credential('local') ?? (await loadLocalCtx(deps));
    if (ctx) return creds.requestId ? { ...ctx, requestId: creds.requestId } : ctx;
  }
  throw await refused(deps, creds, new Unauthorized(NEED_CREDENTIALS), { reason: 'no credentials' });
}

/** The local developer, kept like a session (a role change or a disabled account sends a revocation notice). */
function loadLocalCtx(deps: CoreDeps): Promise<RequestCtx | null> {
  const read = async () => {
    const actor = await loadUserActor(deps, LOCAL_USER_ID, 'local');
    return actor && makeCtx(actor);
  };
  return deps.cache ? deps.cache.loadCredential('local', read, (ctx) => ctx && { ctx }) : read();
}

async function sessionCtx(deps: CoreDeps, creds: Credentials, sessionId: string): Promise<RequestCtx> {
  try {
    return await runtimeSessionCtx(deps, sessionId, creds.requestId);
  } catch (err) {
    if (!(err instanceof NotFound)) throw err;
    throw await refused(deps, creds, err, { reason: 'unknown or ended runtime session' });
  }
}

async function bearerCtx(deps: CoreDeps, creds: Credentials, token: string): Promise<RequestCtx> {
  if (isDeviceSecret(token)) return deviceCtx(deps, creds, token);
  const fromKey = await apiKeyCtx(deps, token, creds.requestId);
  if (fromKey && 'actor' in fromKey) return fromKey;
  // Made only now: an error's stack trace cost a twentieth of every keyed poll.
  const invalid = new Unauthorized('the API key is not valid (unknown, revoked or expired)');
  if (fromKey) {
    const { keyId, userId, reason } = fromKey;
    throw await refused(deps, creds, invalid, { reason, credential: `api_key:${keyId}`, owner: userId });
  }
  // The first admin's bootstrap token (users.token_hash) predates personal keys and still works.
  const user = await deps.prisma.user.findUnique({
    where: { tokenHash: hashToken(token) },
    include: { role: true },
  });
  if (!user) throw await refused(deps, creds, invalid, { reason: 'unknown API key' });
  if (user.disabled) {
    const why = {
      reason: "the token's owner is disabled",
      credential: `user_token:${user.id}`,
      owner: user.id,
    };
    throw await refused(deps, creds, invalid, why);
  }
  return makeCtx(
    { userId: user.id, roleName: user.roleName, permissions: user.role.permissions, via: 'token' },
    creds.requestId,
  );
}

/** A CoderClaw device's secret (its `/k/<secret>` base URL): the device's owner, on that device. */
async function deviceCtx(deps: CoreDeps, creds: Credentials, secret: string): Promise<RequestCtx> {
  const ctx = await deviceSecretCtx(deps, secret, creds.requestId);
  if (ctx) return ctx;
  const error = new Unauthorized(
    'the device secret is not valid (unknown, its device revoked, or replaced by a later approval)',
  );
  throw await refused(deps, creds, error, { reason: 'unknown or revoked device secret' });
}
