import { randomBytes } from 'node:crypto';
import { hashToken, PERMISSIONS, type Permission } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessOf, ROUTE_ACCESS } from './permission-matrix.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

interface Caller {
  headers: Record<string, string>;
  sessionId: string;
}
interface Fixtures {
  taskId: string;
  executionId: string;
  runtimeTaskId: string;
}
type Sample = (f: Fixtures, caller: Caller) => { path: string; body?: unknown };

/** A request for every route that needs a permission; a new route needs one here too. */
const SAMPLES: Record<string, Sample> = {
  'GET /api/runtime/agents': () => ({ path: '/api/runtime/agents' }),
  'GET /api/runtime/skills': () => ({ path: '/api/runtime/skills' }),
  'POST /api/runtime/tasks/submit': (_f, c) => ({
    path: '/api/runtime/tasks/submit',
    body: { agent_type: 'echo', prompt: 'matrix', context: {}, session_id: c.sessionId },
  }),
  'GET /api/runtime/tasks/:task_id/state': (f, c) => ({
    path: `/api/runtime/tasks/${f.runtimeTaskId}/state?session_id=${c.sessionId}`,
  }),
  'POST /api/runtime/tasks/:task_id/cancel': (f, c) => ({
    path: `/api/runtime/tasks/${f.runtimeTaskId}/cancel`,
    body: { session_id: c.sessionId },
  }),
  'GET /api/projects': () => ({ path: '/api/projects' }),
  'POST /api/projects': () => ({
    path: '/api/projects',
    body: { slug: `p-${randomBytes(3).toString('hex')}` },
  }),
  'PATCH /api/projects/:slug': () => ({ path: '/api/projects/inbox', body: { description: 'x' } }),
  'GET /api/projects/:slug/assignees': () => ({ path: '/api/projects/inbox/assignees' }),
  'GET /api/projects/:slug/members': () => ({ path: '/api/projects/inbox/members' }),
  'PUT /api/projects/:slug/members/:user_id': () => ({ path: '/api/projects/matrixp/members/local' }),
  'DELETE /api/projects/:slug/members/:user_id': () => ({ path: '/api/projects/matrixp/members/local' }),
  'GET /api/projects/:slug/secrets': () => ({ path: '/api/projects/inbox/secrets' }),
  'PUT /api/projects/:slug/secrets/:name': () => ({
    path: '/api/projects/inbox/secrets/GITHUB_TOKEN',
    body: { value: 'matrix-secret' },
  }),
  'DELETE /api/projects/:slug/secrets/:name': () => ({ path: '/api/projects/inbox/secrets/GITHUB_TOKEN' }),
  'GET /api/tasks': () => ({ path: '/api/tasks' }),
  'POST /api/tasks': () => ({ path: '/api/tasks', body: { project: 'inbox', title: 'a card' } }),
  'GET /api/tasks/:id': (f) => ({ path: `/api/tasks/${f.taskId}` }),
  'PATCH /api/tasks/:id': (f) => ({ path: `/api/tasks/${f.taskId}`, body: { column: 'review' } }),
  'GET /api/tasks/:id/executions': (f) => ({ path: `/api/tasks/${f.taskId}/executions` }),
  'POST /api/tasks/:id/executions': (f) => ({
    path: `/api/tasks/${f.taskId}/executions`,
    body: { agent_type: 'echo', prompt: 'again' },
  }),
  'GET /api/executions/:id': (f) => ({ path: `/api/executions/${f.executionId}` }),
  'GET /api/executions/:id/events': (f) => ({ path: `/api/executions/${f.executionId}/events` }),
  'POST /api/executions/:id/cancel': (f) => ({ path: `/api/executions/${f.executionId}/cancel` }),
  'POST /api/executions/:id/approve': (f) => ({ path: `/api/executions/${f.executionId}/approve`, body: {} }),
  'POST /api/executions/:id/deny': (f) => ({ path: `/api/executions/${f.executionId}/deny`, body: {} }),
  'GET /api/board/events': () => ({ path: '/api/board/events' }),
  'GET /api/audit/events': () => ({ path: '/api/audit/events' }),
  // A cutoff older than every row: allowed, it archives and removes nothing.
  'POST /api/audit/prune': () => ({ path: '/api/audit/prune', body: { before: '2000-01-01T00:00:00Z' } }),
  'GET /api/users': () => ({ path: '/api/users' }),
  'POST /api/users': () => ({
    path: '/api/users',
    body: { id: `u-${randomBytes(3).toString('hex')}`, role: 'VIEWER' },
  }),
  'PATCH /api/users/:id': () => ({ path: '/api/users/local', body: { name: 'Local developer' } }),
  'GET /api/roles': () => ({ path: '/api/roles' }),
  'PUT /api/roles/:name': () => ({ path: '/api/roles/AUDITOR', body: { permissions: ['audit:view'] } }),
  'DELETE /api/roles/:name': () => ({ path: '/api/roles/AUDITOR' }),
  'GET /api/agents/stats': () => ({ path: '/api/agents/stats' }),
  'GET /api/queue/stats': () => ({ path: '/api/queue/stats' }),
};

const SOME_ID = '00000000-0000-4000-8000-000000000000';

/** A well-formed request for every signedIn route, so only the missing credentials can refuse it. */
const SIGNED_IN_SAMPLES: Record<string, { path: string; body?: unknown }> = {
  'POST /api/auth/logout': { path: '/api/auth/logout' },
  'GET /api/auth/me': { path: '/api/auth/me' },
  'POST /api/auth/password': {
    path: '/api/auth/password',
    body: { current_password: 'x', new_password: 'a long new password' },
  },
  'GET /api/auth/sessions': { path: '/api/auth/sessions' },
  'POST /api/auth/sessions/:id/revoke': { path: `/api/auth/sessions/${SOME_ID}/revoke` },
  'GET /api/keys': { path: '/api/keys' },
  'POST /api/keys': { path: '/api/keys', body: { name: 'matrix' } },
  'POST /api/keys/:id/revoke': { path: `/api/keys/${SOME_ID}/revoke` },
  'GET /api/devices': { path: '/api/devices' },
  'POST /api/devices/:id/approve': { path: `/api/devices/${SOME_ID}/approve` },
  'POST /api/devices/:id/revoke': { path: `/api/devices/${SOME_ID}/revoke` },
};

// On loopback in AUTH_MODE local the local developer is implicit, so this asks a team server.
describe('signedIn routes', () => {
  let team: TestServer;
  beforeAll(async () => {
    team = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
  });
  afterAll(async () => team?.stop());

  const signedIn = Object.entries(ROUTE_ACCESS).flatMap(([key, a]) => ('signedIn' in a ? [key] : []));
  it('has a sample request for every signedIn route', () => {
    expect(signedIn.filter((k) => !SIGNED_IN_SAMPLES[k])).toEqual([]);
  });
  it.each(signedIn)('%s: 401 without credentials', async (key) => {
    const [method = 'GET'] = key.split(' ');
    const sample = SIGNED_IN_SAMPLES[key];
    if (!sample) throw new Error(`no sample request for ${key}`);
    const res = await fetch(`${team.url}${sample.path}`, {
      method,
      ...(sample.body !== undefined
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(sample.body) }
        : {}),
    });
    expect(res.status, `${key}: ${await res.text()}`).toBe(401);
  });
});

describe('permission matrix', () => {
  let server: TestServer;
  let fixtures: Fixtures;
  const callers = new Map<string, Caller>();

  /** A user whose custom role holds exactly `permissions`, with a bearer token and a runtime session. */
  async function makeCaller(name: string, permissions: Permission[]): Promise<Caller> {
    const token = `ccl_${randomBytes(18).toString('base64url')}`;
    await server.prisma.role.create({ data: { name, permissions } });
    await server.prisma.user.create({
      data: { id: name.toLowerCase(), roleName: name, tokenHash: hashToken(token) },
    });
    const session = await readJson(
      await fetch(`${server.url}/api/runtime/sessions?user_id=${name.toLowerCase()}`, { method: 'POST' }),
    );
    return { headers: { authorization: `Bearer ${token}` }, sessionId: session.session_id as string };
  }

  async function call(key: string, caller: Caller): Promise<number> {
    const [method = 'GET'] = key.split(' ');
    const sample = SAMPLES[key]?.(fixtures, caller);
    if (!sample) throw new Error(`no sample request for ${key}`);
    const abort = new AbortController();
    const res = await fetch(`${server.url}${sample.path}`, {
      method,
      signal: abort.signal,
      headers: {
        ...caller.headers,
        ...(sample.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(sample.body !== undefined ? { body: JSON.stringify(sample.body) } : {}),
    });
    abort.abort(); // event streams stay open; the status is all this test needs
    return res.status;
  }

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    callers.set('ALL', await makeCaller('ALL', [...PERMISSIONS]));
    for (const p of PERMISSIONS) {
      const name = `NO_${p.replace(':', '_').toUpperCase()}`;
      callers.set(
        p,
        await makeCaller(
          name,
          PERMISSIONS.filter((q) => q !== p),
        ),
      );
    }
    const all = callers.get('ALL') as Caller;
    const submitted = await readJson(
      await fetch(`${server.url}/api/runtime/tasks/submit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          agent_type: 'echo',
          prompt: 'fixture',
          context: {},
          session_id: all.sessionId,
        }),
      }),
    );
    const task = await readJson(
      await fetch(`${server.url}/api/tasks/${submitted.task_id}`, { headers: all.headers }),
    );
    fixtures = {
      taskId: submitted.task_id as string,
      runtimeTaskId: submitted.task_id as string,
      executionId: (task.latest_execution as { id: string }).id,
    };
    await waitFor(async () => {
      const e = await server.prisma.execution.findUnique({ where: { id: fixtures.executionId } });
      return e?.state === 'COMPLETED';
    });
  });
  afterAll(async () => server?.stop());

  it('lists every route the server registers', () => {
    expect(server.routes.length).toBeGreaterThan(20);
    const missing = server.routes.filter((r) => !accessOf(r)).map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
  });

  it('has a sample request for every route that needs a permission', () => {
    const guarded = Object.entries(ROUTE_ACCESS).filter(([, a]) => 'permission' in a);
    expect(guarded.map(([k]) => k).filter((k) => !SAMPLES[k])).toEqual([]);
  });

  const guarded = Object.entries(ROUTE_ACCESS).flatMap(([key, access]) =>
    'permission' in access ? [[key, access.permission] as const] : [],
  );
  it.each(guarded)('%s: allowed with %s, 403 without it', async (key, permission) => {
    const allowed = await call(key, callers.get('ALL') as Caller);
    expect(allowed, `${key} with every permission`).not.toBe(403);
    expect(allowed, `${key} with every permission`).toBeLessThan(500);
    const denied = await call(key, callers.get(permission) as Caller);
    expect(denied, `${key} without ${permission}`).toBe(403);
  });

  it('records each refusal in the audit log', async () => {
    const rows = await server.prisma.auditEvent.count({ where: { outcome: 'DENIED' } });
    expect(rows).toBeGreaterThanOrEqual(guarded.length);
  });
});
