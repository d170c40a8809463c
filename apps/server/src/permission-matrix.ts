import { authorize, has, type Permission, type RequestCtx } from '@ccl/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestCtx, taskReaderCtx } from './auth.ts';

/**
 * Who may call a route. Each route declares it beside itself, in its `config.access`; the server
 * refuses to start with a route that declares none, and one preValidation hook (below) builds the
 * request's actor and checks the permissions before the body is validated or the handler runs.
 * The use cases still authorize on their first line (the CLI and the bot call them too);
 * `permission-matrix.test.ts` walks the route table and calls every guarded route with exactly its
 * permissions (not 403) and with each one missing (403).
 */
export type Access =
  /** Needs every one of these permissions, always (the hook checks them before the handler). */
  | {
      permissions: readonly Permission[];
      /** More permissions that some requests need (the use case checks them), each with when. */
      conditional?: Partial<Record<Permission, string>>;
      /** Where CoderClaw sends its runtime session id, which then authenticates the request. */
      session?: 'body' | 'query';
      /** CoderClaw's state poll (and a restarted client's cancel) may carry no credential: the session that submitted the task stands in. */
      taskPoll?: true;
    }
  /** Open to anyone who can reach the server; `open` says what makes that safe. */
  | { open: string }
  /** Any authenticated caller; the use case limits it to the caller's own objects (`signedIn` says how). */
  | { signedIn: string };

export const open = (why: string): Access => ({ open: why });
export const signedIn = (why: string): Access => ({ signedIn: why });
export const needs = (...permissions: Permission[]) => ({ permissions });

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: Access;
  }
  interface FastifyRequest {
    /** The actor, built by the access hook for every route that is not open. */
    actor: RequestCtx | null;
  }
}

/** Routes that plugins register, which cannot carry our config: `METHOD /path`, a trailing `*` matches the rest. */
const PLUGIN_ROUTES: Record<string, Access> = {
  'GET /docs*': open(
    'the OpenAPI document and its viewer; no data (signed-in callers only in AUTH_MODE team)',
  ),
  'OPTIONS *': open('CORS preflight, registered only when CORS_ORIGINS is set'),
};

export interface RouteEntry {
  method: string;
  url: string;
  access: Access | undefined;
}

function pluginAccess(method: string, url: string): Access | undefined {
  const key = `${method === 'HEAD' ? 'GET' : method} ${url}`;
  for (const [pattern, access] of Object.entries(PLUGIN_ROUTES)) {
    if (pattern.endsWith('*') ? key.startsWith(pattern.slice(0, -1)) : key === pattern) return access;
  }
  return undefined;
}

/** The actor of a handler's request; the access hook has built it (routes that are not open only). */
export function actorOf(request: FastifyRequest): RequestCtx {
  if (!request.actor) throw new Error(`${request.method} ${request.url}: an open route has no actor`);
  return request.actor;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A well-formed session id from where the route says CoderClaw sends it (not yet validated: this runs first). */
function sessionIdOf(request: FastifyRequest, where: 'body' | 'query' | undefined): string | undefined {
  const from = where === 'body' ? request.body : where === 'query' ? request.query : undefined;
  const id = from && typeof from === 'object' ? (from as { session_id?: unknown }).session_id : undefined;
  return typeof id === 'string' && UUID.test(id) ? id : undefined;
}

/** What a refusal's audit row names: a path parameter, when it looks like an id (it is not validated yet). */
const PLAIN_ID = /^[A-Za-z0-9._:@-]{1,200}$/;

function resourceOf(request: FastifyRequest, permission: Permission) {
  const params = (request.params ?? {}) as Record<string, unknown>;
  const id = params.id ?? params.task_id ?? params.slug;
  return {
    resourceType: permission.split(':')[0] as string,
    resourceId: typeof id === 'string' && PLAIN_ID.test(id) ? id : null,
  };
}

/** Builds request.actor and checks the route's permissions: 401 and 403 come before a 400 for the body. */
async function checkAccess(request: FastifyRequest): Promise<void> {
  const access = request.routeOptions.config.access;
  if (!access || 'open' in access) return;
  const deps = request.server.deps;
  if ('signedIn' in access) {
    request.actor = await requestCtx(deps, request);
    return;
  }
  const sessionId = sessionIdOf(request, access.session);
  const taskId = (request.params as { task_id?: unknown }).task_id;
  const ctx =
    access.taskPoll && typeof taskId === 'string' && UUID.test(taskId)
      ? await taskReaderCtx(deps, request, taskId, sessionId)
      : await requestCtx(deps, request, sessionId);
  for (const permission of access.permissions) {
    // What a refusal's audit row names is worked out only for a refusal: this runs on every poll.
    if (!has(ctx, permission)) await authorize(deps, ctx, permission, resourceOf(request, permission));
  }
  request.actor = ctx;
}

/**
 * Records every route with its access as it is registered, refuses to start when one declares
 * none, and adds the access hook. Call before any other preValidation hook: hooks run in the
 * order they were added, and credentials are checked before any input is.
 */
export function enforceRouteMatrix(app: FastifyInstance): RouteEntry[] {
  const routes: RouteEntry[] = [];
  app.decorateRequest('actor', null);
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      routes.push({
        method,
        url: route.url,
        access: route.config?.access ?? pluginAccess(method, route.url),
      });
    }
  });
  app.addHook('preValidation', checkAccess);
  app.addHook('onReady', async () => {
    const missing = routes.filter((r) => !r.access).map((r) => `${r.method} ${r.url}`);
    if (missing.length) {
      throw new Error(
        `routes without config.access: ${missing.join(', ')}; declare beside each who may call it (see apps/server/src/permission-matrix.ts)`,
      );
    }
  });
  return routes;
}
