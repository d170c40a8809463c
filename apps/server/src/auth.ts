import {
  authenticate,
  type CoreDeps,
  csrfTokenOf,
  DomainError,
  Forbidden,
  isDeviceSecret,
  type RequestCtx,
  SESSION_COOKIE,
  taskSessionCtx,
  writeAudit,
} from '@ccl/core';
import type { FastifyRequest } from 'fastify';
import { pathKeyOf } from './path-key.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * True when AUTH_MODE is local and the client is this machine: the `local` developer applies. Both
 * the peer and the client a trusted proxy names (TRUST_PROXY) must be loopback: a proxy on this
 * machine forwarding someone else is not the local developer.
 */
export function isLocalTrusted(deps: CoreDeps, request: FastifyRequest): boolean {
  return deps.config.authMode === 'local' && isLoopbackPeer(request);
}

/** The peer is this machine, and so is the client a trusted proxy names (TRUST_PROXY). */
export function isLoopbackPeer(request: FastifyRequest): boolean {
  return LOOPBACK.has(request.socket.remoteAddress ?? '') && LOOPBACK.has(request.ip);
}

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function sessionCookie(request: FastifyRequest): string | undefined {
  return request.cookies?.[SESSION_COOKIE] || undefined;
}

/** A browser sent this request on behalf of another site (Fetch Metadata, else Origin against Host). */
function crossSite(request: FastifyRequest): boolean {
  const site = request.headers['sec-fetch-site'];
  if (typeof site === 'string') return site === 'cross-site' || site === 'same-site';
  const origin = request.headers.origin;
  if (!origin) return false;
  try {
    return new URL(origin).host !== request.headers.host;
  } catch {
    return true;
  }
}

/**
 * Ambient credentials (the sign-in cookie, the loopback rule) ride along on any request a
 * browser makes, also one another site triggers. A change made with them needs proof it
 * came from our own page: the CSRF token for the cookie, same-origin for loopback. Only for
 * unsafe methods (the caller checks, so a read does not pay for an async call).
 */
async function checkAmbient(deps: CoreDeps, request: FastifyRequest, ctx: RequestCtx): Promise<void> {
  let reason: string | null = null;
  if (ctx.actor.via === 'cookie') {
    const cookie = sessionCookie(request);
    const sent = request.headers['x-csrf-token'];
    if (crossSite(request)) reason = 'a cross-site request cannot use the sign-in cookie';
    else if (!cookie || typeof sent !== 'string' || sent !== csrfTokenOf(cookie)) {
      reason = 'missing or wrong X-CSRF-Token header; reload the board and try again';
    }
  } else if (ctx.actor.via === 'local' && crossSite(request)) {
    reason = 'a cross-site request cannot act as the local developer';
  }
  if (!reason) return;
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action: 'request.csrf',
      resourceType: 'http',
      resourceId: `${request.method} ${request.routeOptions.url ?? ''}`,
      outcome: 'DENIED',
      detail: { reason },
    }),
  );
  throw new Forbidden(reason);
}

/** The Authorization: Bearer header, else the key of a `/k/<key>` base URL. */
function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header?.startsWith('Bearer ')) return pathKeyOf(request.raw);
  return header.slice('Bearer '.length).trim() || undefined;
}

/**
 * The actor a key proves (the Authorization header's, else a `/k/<key>` base URL's: an API key or a
 * device secret), for opening a runtime session; undefined without one. A key that does not
 * authenticate answers 401 rather than falling back to pairing.
 */
export async function sessionKeyCtx(
  deps: CoreDeps,
  request: FastifyRequest,
): Promise<RequestCtx | undefined> {
  const key = bearerToken(request);
  if (!key) return undefined;
  return authenticate(deps, { bearerToken: key, localTrusted: false, requestId: request.id, ip: request.ip });
}

/** The one place a request becomes an actor. */
export async function requestCtx(
  deps: CoreDeps,
  request: FastifyRequest,
  sessionId?: string,
): Promise<RequestCtx> {
  const key = bearerToken(request);
  const ctx = await authenticate(deps, {
    // With an API key (header or `/k/<key>` base URL) the key authenticates; the session id it was given
    // is bound to it, not stored. A device secret's sessions are stored (and end with the device), so
    // their ids authenticate.
    sessionId: key && !isDeviceSecret(key) ? undefined : sessionId,
    bearerToken: key,
    cookieToken: sessionCookie(request),
    localTrusted: isLocalTrusted(deps, request),
    requestId: request.id,
    ip: request.ip,
  });
  if (UNSAFE_METHODS.has(request.method)) await checkAmbient(deps, request, ctx);
  return ctx;
}

const samePermissions = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().join(' ') === [...b].sort().join(' ');

/**
 * For answers that outlive their request (event streams): a check, to run again later, that the
 * credentials the request came with still prove the same actor with the same permissions. Read
 * afresh, past the read cache. False once they are revoked or expired, their owner disabled or
 * their role changed; the caller then ends the answer.
 */
export function credentialCheck(
  deps: CoreDeps,
  request: FastifyRequest,
  ctx: RequestCtx,
): () => Promise<boolean> {
  const creds = {
    bearerToken: bearerToken(request),
    cookieToken: sessionCookie(request),
    localTrusted: isLocalTrusted(deps, request),
    requestId: request.id,
    ip: request.ip,
  };
  const { cache: _cache, ...fresh } = deps;
  return async () => {
    try {
      const now = await authenticate(fresh, creds);
      return (
        now.actor.userId === ctx.actor.userId && samePermissions(now.actor.permissions, ctx.actor.permissions)
      );
    } catch (err) {
      if (err instanceof DomainError) return false;
      throw err;
    }
  };
}

/** For CoderClaw's state poll, which carries no session id: fall back to the session that submitted the task. */
export async function taskReaderCtx(
  deps: CoreDeps,
  request: FastifyRequest,
  taskId: string,
  sessionId?: string,
): Promise<RequestCtx> {
  const anonymous =
    !sessionId && !bearerToken(request) && !sessionCookie(request) && !isLocalTrusted(deps, request);
  if (anonymous) return taskSessionCtx(deps, taskId, request.id);
  return requestCtx(deps, request, sessionId);
}
