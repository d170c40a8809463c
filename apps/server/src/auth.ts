import { authenticate, type CoreDeps, type RequestCtx, sessionOfTask } from '@ccl/core';
import type { FastifyRequest } from 'fastify';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** True when the peer is this machine and the server only listens on loopback: the `local` developer applies. */
export function isLocalTrusted(deps: CoreDeps, request: FastifyRequest): boolean {
  return deps.config.boundToLoopback && LOOPBACK.has(request.socket.remoteAddress ?? '');
}

function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (!header?.startsWith('Bearer ')) return undefined;
  return header.slice('Bearer '.length).trim() || undefined;
}

/** The one place a request becomes an actor; the security work grows it (cookies, keys, devices). */
export function requestCtx(deps: CoreDeps, request: FastifyRequest, sessionId?: string): Promise<RequestCtx> {
  return authenticate(deps, {
    sessionId,
    bearerToken: bearerToken(request),
    localTrusted: isLocalTrusted(deps, request),
    requestId: request.id,
  });
}

/** For CoderClaw's state poll, which carries no session id: fall back to the session that submitted the task. */
export async function taskReaderCtx(
  deps: CoreDeps,
  request: FastifyRequest,
  taskId: string,
  sessionId?: string,
): Promise<RequestCtx> {
  const anonymous = !sessionId && !bearerToken(request) && !isLocalTrusted(deps, request);
  return requestCtx(deps, request, anonymous ? await sessionOfTask(deps, taskId) : sessionId);
}
