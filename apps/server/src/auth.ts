import {
  authenticate,
  type CoreDeps,
  csrfTokenOf,
  Forbidden,
  type RequestCtx,
  SESSION_COOKIE,
  taskSessionCtx,
  writeAudit,
} from '@ccl/core';
import type { FastifyRequest } from 'fastify';
import { pathKeyOf } from './path-key.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** True when AUTH_MODE is local and the peer is this machine: the `local` developer applies. */
export function isLocalTrusted(deps: CoreDeps, request: FastifyRequest): boolean {
  return deps.config.authMode === 'local' && LOOPBACK.has(request.socket.remoteAddress ?? '');
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
 * The actor a `/k/<key>` base URL proves, for opening a runtime session; undefined without
 * one. A key that does not authenticate answers 401 rather than falling back to pairing.
 */
export async function pathKeyCtx(deps: CoreDeps, request: FastifyRequest): Promise<RequestCtx | undefined> {
  const key = pathKeyOf(request.raw);
  if (!key) return undefined;
  return authenticate(deps, { bearerToken: key, localTrusted: false, requestId: request.id });
}

/** The one place a request becomes an actor. */
export async function requestCtx(
  deps: CoreDeps,
  request: FastifyRequest,
  sessionId?: string,
): Promise<RequestCtx> {
  const ctx = await authenticate(deps, {
    // Behind a `/k/<key>` base URL the key authenticates; the session id it was given is bound to it, not stored.
    sessionId: pathKeyOf(request.raw) ? undefined : sessionId,
    bearerToken: bearerToken(request),
    cookieToken: sessionCookie(request),
    localTrusted: isLocalTrusted(deps, request),
    requestId: request.id,
  });
  if (UNSAFE_METHODS.has(request.method)) await checkAmbient(deps, request, ctx);
  return ctx;
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
