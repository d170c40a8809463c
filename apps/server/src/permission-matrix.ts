import type { Permission } from '@ccl/core';
import type { FastifyInstance } from 'fastify';

/**
 * Who may call each HTTP route (and, when the Telegram bot lands, each bot command).
 * The check itself lives in the domain (each use case authorizes on its first line);
 * this table is the reviewed list of what that check is, route by route. The server
 * refuses to start with a route that is not listed here, and
 * `permission-matrix.test.ts` calls every listed route as a user with the permission
 * (not 403) and one without (403, or 404 for objects out of reach).
 */
export type Access =
  /** Needs this permission (checked by the use case the route calls). */
  | { permission: Permission }
  /** Open to anyone who can reach the server; `why` says what makes that safe. */
  | { open: string }
  /** Any authenticated caller; the use case limits it to the caller's own objects (`why`). */
  | { signedIn: string };

const open = (why: string): Access => ({ open: why });
const needs = (permission: Permission): Access => ({ permission });
const signedIn = (why: string): Access => ({ signedIn: why });

/** `METHOD /path` as Fastify registers it; a trailing `*` matches the rest of the path. HEAD follows GET. */
export const ROUTE_ACCESS: Record<string, Access> = {
  'GET /healthz': open('liveness probe; says only "ok"'),
  'GET /readyz': open('readiness probe; says whether the database and queue answer'),
  'GET /docs*': open(
    'the OpenAPI document and its viewer; no data (signed-in callers only in AUTH_MODE team)',
  ),
  'GET /': open('the board application shell; its data comes from the API'),
  'GET /assets/*': open('the board’s static, content-hashed assets'),
  'OPTIONS *': open('CORS preflight, registered only when CORS_ORIGINS is set'),

  'POST /api/runtime/sessions': open(
    'creates a runtime session: a trusted loopback caller gets one at once, others need a paired device of a known user or a /k/<key> base URL',
  ),
  'GET /api/runtime/agents': needs('agent:execute'),
  'GET /api/runtime/skills': needs('agent:execute'),
  'POST /api/runtime/tasks/submit': needs('task:submit'),
  'GET /api/runtime/tasks/:task_id/state': needs('task:view'),
  'POST /api/runtime/tasks/:task_id/cancel': needs('task:cancel'),

  'GET /api/projects': needs('project:view'),
  'POST /api/projects': needs('project:manage'),
  'PATCH /api/projects/:slug': needs('project:manage'),
  'GET /api/projects/:slug/assignees': needs('task:view'),
  'GET /api/projects/:slug/members': needs('project:manage'),
  'PUT /api/projects/:slug/members/:user_id': needs('project:manage'),
  'DELETE /api/projects/:slug/members/:user_id': needs('project:manage'),
  'GET /api/projects/:slug/secrets': needs('secret:manage'),
  'PUT /api/projects/:slug/secrets/:name': needs('secret:manage'),
  'DELETE /api/projects/:slug/secrets/:name': needs('secret:manage'),

  'GET /api/tasks': needs('task:view'),
  'POST /api/tasks': needs('task:submit'),
  'GET /api/tasks/:id': needs('task:view'),
  'PATCH /api/tasks/:id': needs('task:submit'),
  'GET /api/tasks/:id/executions': needs('task:view'),
  'POST /api/tasks/:id/executions': needs('task:submit'),

  'GET /api/executions/:id': needs('task:view'),
  'GET /api/executions/:id/events': needs('task:view'),
  'POST /api/executions/:id/cancel': needs('task:cancel'),
  'POST /api/executions/:id/approve': needs('task:approve'),
  'POST /api/executions/:id/deny': needs('task:approve'),
  'GET /api/board/events': needs('task:view'),
  'GET /api/agents/stats': needs('task:view'),
  'GET /api/queue/stats': needs('task:view'),

  'GET /api/audit/events': needs('audit:view'),
  'POST /api/audit/prune': needs('audit:manage'),

  'GET /api/users': needs('user:manage'),
  'POST /api/users': needs('user:manage'),
  'PATCH /api/users/:id': needs('user:manage'),
  'GET /api/roles': needs('user:manage'),
  'PUT /api/roles/:name': needs('user:manage'),
  'DELETE /api/roles/:name': needs('user:manage'),

  'POST /api/auth/login': open('sign-in itself; failures are audited and limited per account and address'),
  'POST /api/auth/logout': signedIn('ends the caller’s own browser session'),
  'GET /api/auth/me': signedIn('the caller’s own identity and permissions'),
  'POST /api/auth/password': signedIn('changes the caller’s own password, given the current one'),
  'GET /api/auth/sessions': signedIn('own sessions; another user’s need user:manage'),
  'POST /api/auth/sessions/:id/revoke': signedIn('own sessions; another user’s need user:manage'),
  'GET /api/keys': signedIn('own keys; everyone’s (?all=true) need apikey:manage'),
  'POST /api/keys': signedIn('own keys, within the caller’s permissions; another user’s need apikey:manage'),
  'POST /api/keys/:id/revoke': signedIn('own keys; another user’s need apikey:manage'),
  'GET /api/devices': signedIn('own CoderClaw devices; everyone’s need device:approve'),
  'POST /api/devices/:id/approve': signedIn(
    'own devices (not from a runtime session or a narrowed key); another user’s need device:approve',
  ),
  'POST /api/devices/:id/revoke': signedIn('own devices; another user’s need device:approve'),
};

/** Telegram bot commands, once the bot lands: `/command` → access. */
export const BOT_COMMAND_ACCESS: Record<string, Access> = {};

export interface RouteEntry {
  method: string;
  url: string;
}

/** The matrix entry for a route, or undefined when it is not listed. */
export function accessOf(route: RouteEntry): Access | undefined {
  const method = route.method === 'HEAD' ? 'GET' : route.method;
  const key = `${method} ${route.url}`;
  const exact = ROUTE_ACCESS[key];
  if (exact) return exact;
  for (const [pattern, access] of Object.entries(ROUTE_ACCESS)) {
    if (pattern.endsWith('*') && key.startsWith(pattern.slice(0, -1))) return access;
  }
  return undefined;
}

/**
 * Records every route as it is registered and refuses to start when one is not in
 * the matrix, so a new route cannot ship without a reviewed permission.
 */
export function enforceRouteMatrix(app: FastifyInstance): RouteEntry[] {
  const routes: RouteEntry[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) routes.push({ method, url: route.url });
  });
  app.addHook('onReady', async () => {
    const missing = routes.filter((r) => !accessOf(r)).map((r) => `${r.method} ${r.url}`);
    if (missing.length) {
      throw new Error(
        `routes missing from apps/server/src/permission-matrix.ts: ${missing.join(', ')}; list each with the permission it needs`,
      );
    }
  });
  return routes;
}
