import { randomBytes } from 'node:crypto';
import { hashToken, PERMISSIONS, type Permission } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

interface Caller {
  headers: Record<string, string>;
  sessionId: string;
}
interface Fixtures {
  taskId: string;
  executionId: string;
  runtimeTaskId: string;
  /** The numbers CoderClaw 2026.3 names them by. */
  taskNumber: number;
  executionNumber: number;
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
  'POST /api/runtime/executions': (f) => ({
    path: '/api/runtime/executions',
    body: { taskId: f.taskNumber, payload: 'matrix' },
  }),
  'GET /api/runtime/executions/:id': (f) => ({ path: `/api/runtime/executions/${f.executionNumber}` }),
  'POST /api/runtime/executions/:id/cancel': (f) => ({
    path: `/api/runtime/executions/${f.executionNumber}/cancel`,
    body: {},
  }),
  'GET /api/agents': () => ({ path: '/api/agents?user_id=matrix' }),
  'GET /api/skills': () => ({ path: '/api/skills' }),
  'GET /api/claws/:clawId/skills': () => ({ path: '/api/claws/7/skills' }),
  'POST /api/tasks/next': () => ({ path: '/api/tasks/next' }),
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
  'GET /api/stats/agents': () => ({ path: '/api/stats/agents' }),
  'GET /api/queue/stats': () => ({ path: '/api/queue/stats' }),
};

/** Requests that make a route check a permission it needs only for them (Access.conditional). */
const CONDITIONAL_SAMPLES: Record<string, Partial<Record<Permission, Sample>>> = {
  'POST /api/tasks': {
    'agent:execute': () => ({
      path: '/api/tasks',
      body: { project: 'inbox', title: 'a card that runs', prompt: 'run it', agent_type: 'echo' },
    }),
  },
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
  'GET /api/auth/telegram': { path: '/api/auth/telegram' },
  'POST /api/auth/telegram/link': { path: '/api/auth/telegram/link' },
  'DELETE /api/auth/telegram': { path: '/api/auth/telegram' },
};

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

// On loopback in AUTH_MODE local the local developer is implicit, so this asks a team server.
describe('signedIn routes', () => {
  let team: TestServer;
  beforeAll(async () => {
    team = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
  });
  afterAll(async () => team?.stop());

  const signedIn = () =>
    team.routes.flatMap((r) =>
      r.method !== 'HEAD' && r.access && 'signedIn' in r.access ? [`${r.method} ${r.url}`] : [],
    );

  it('has a sample request for every signedIn route', () => {
    expect(signedIn().length).toBeGreaterThan(5);
    expect(signedIn().filter((k) => !SIGNED_IN_SAMPLES[k])).toEqual([]);
  });

  it('answers 401 without credentials on every signedIn route', async () => {
    const failures: string[] = [];
    for (const key of signedIn()) {
      const [method = 'GET'] = key.split(' ');
      const sample = SIGNED_IN_SAMPLES[key];
      if (!sample) continue;
      const res = await fetch(`${team.url}${sample.path}`, {
        method,
        ...(sample.body !== undefined
          ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(sample.body) }
          : {}),
      });
      if (res.status !== 401) failures.push(`${key}: ${res.status} ${await res.text()}`);
    }
    expect(failures).toEqual([]);
  });

  it('write routes check credentials before validating the body (a bad body without credentials was 400, not 401)', async () => {
    const writes = team.routes.filter(
      (r) => WRITE_METHODS.has(r.method) && r.access !== undefined && !('open' in r.access),
    );
    expect(writes.length).toBeGreaterThan(20);
    const failures: string[] = [];
    for (const r of writes) {
      // Every parameter filled with something no schema accepts, and a body that is no object.
      const path = r.url.replace(/:[a-z_]+/g, 'not-valid!');
      const res = await fetch(`${team.url}${path}`, {
        method: r.method,
        headers: { 'content-type': 'application/json' },
        body: '[1, "not an object"]',
      });
      if (res.status !== 401) failures.push(`${r.method} ${r.url}: ${res.status} ${await res.text()}`);
    }
    expect(failures).toEqual([]);
  });
});

describe('permission matrix', () => {
  let server: TestServer;
  let fixtures: Fixtures;
  /** Callers by the exact set of permissions their role holds (sorted, comma-joined). */
  const callers = new Map<string, Promise<Caller>>();
  let made = 0;

  /** A user whose custom role holds exactly `permissions`, with a bearer token and a runtime session. */
  async function makeCaller(permissions: readonly Permission[]): Promise<Caller> {
    const name = `SET_${made++}`;
    const token = `ccl_${randomBytes(18).toString('base64url')}`;
    await server.prisma.role.create({ data: { name, permissions: [...permissions] } });
    await server.prisma.user.create({
      data: { id: name.toLowerCase(), roleName: name, tokenHash: hashToken(token) },
    });
    const session = await readJson(
      await fetch(`${server.url}/api/runtime/sessions?user_id=${name.toLowerCase()}`, { method: 'POST' }),
    );
    return { headers: { authorization: `Bearer ${token}` }, sessionId: session.session_id as string };
  }
  function callerWith(permissions: readonly Permission[]): Promise<Caller> {
    const key = [...permissions].sort().join(',');
    let caller = callers.get(key);
    if (!caller) {
      caller = makeCaller(permissions);
      callers.set(key, caller);
    }
    return caller;
  }

  async function call(key: string, caller: Caller, sample: Sample = SAMPLES[key] as Sample): Promise<number> {
    const [method = 'GET'] = key.split(' ');
    const req = sample?.(fixtures, caller);
    if (!req) throw new Error(`no sample request for ${key}`);
    const abort = new AbortController();
    const res = await fetch(`${server.url}${req.path}`, {
      method,
      signal: abort.signal,
      headers: {
        ...caller.headers,
        ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(req.body !== undefined ? { body: JSON.stringify(req.body) } : {}),
    });
    abort.abort(); // event streams stay open; the status is all this test needs
    return res.status;
  }

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    const all = await callerWith(PERMISSIONS);
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
      taskNumber: task.number as number,
      executionNumber: (task.latest_execution as { number: number }).number,
    };
    await waitFor(async () => {
      const e = await server.prisma.execution.findUnique({ where: { id: fixtures.executionId } });
      return e?.state === 'COMPLETED';
    });
  });
  afterAll(async () => server?.stop());

  /** Every route the server registered, with the permissions declared beside it. */
  const guardedRoutes = () =>
    server.routes.flatMap((r) =>
      r.method !== 'HEAD' && r.access && 'permissions' in r.access
        ? [{ key: `${r.method} ${r.url}`, access: r.access }]
        : [],
    );

  it('declares access beside every route the server registers', () => {
    expect(server.routes.length).toBeGreaterThan(20);
    const missing = server.routes.filter((r) => !r.access).map((r) => `${r.method} ${r.url}`);
    expect(missing).toEqual([]);
  });

  it('has a sample request for every route that needs a permission', () => {
    expect(guardedRoutes().length).toBeGreaterThan(30);
    expect(guardedRoutes().flatMap(({ key }) => (SAMPLES[key] ? [] : [key]))).toEqual([]);
  });

  it('a key with only task:submit creates a card and gets it back (it was 403: the answer re-read the card with task:view)', async () => {
    const caller = await callerWith(['task:submit']);
    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { ...caller.headers, 'content-type': 'application/json' },
      body: JSON.stringify({ project: 'inbox', title: 'submit only' }),
    });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await readJson(res)).toMatchObject({ title: 'submit only', project_slug: 'inbox' });
  });

  it('each route answers with exactly its declared permissions, and 403 with any one of them missing (cancel re-read with task:view, submit also needed agent:execute)', async () => {
    const failures: string[] = [];
    for (const { key, access } of guardedRoutes()) {
      const set = access.permissions;
      const allowed = await call(key, await callerWith(set));
      if (allowed === 403 || allowed >= 500)
        failures.push(`${key} with exactly [${set.join(', ')}]: ${allowed}`);
      for (const p of set) {
        const denied = await call(key, await callerWith(set.filter((q) => q !== p)));
        if (denied !== 403) failures.push(`${key} without ${p}: ${denied}, not 403`);
      }
      // A permission the route checks only for some requests: those requests need it too.
      for (const [p, sample] of Object.entries(CONDITIONAL_SAMPLES[key] ?? {}) as Array<
        [Permission, Sample]
      >) {
        if (!access.conditional?.[p])
          failures.push(`${key}: ${p} has a sample but is not declared conditional`);
        const withIt = await call(key, await callerWith([...set, p]), sample);
        if (withIt === 403 || withIt >= 500)
          failures.push(`${key} with [${[...set, p].join(', ')}]: ${withIt}`);
        const without = await call(key, await callerWith(set), sample);
        if (without !== 403) failures.push(`${key} (${p} case) without ${p}: ${without}, not 403`);
      }
      for (const p of Object.keys(access.conditional ?? {})) {
        if (!CONDITIONAL_SAMPLES[key]?.[p as Permission])
          failures.push(`${key}: no sample for conditional ${p}`);
      }
    }
    expect(failures).toEqual([]);
  }, 120_000);

  it('records each refusal in the audit log', async () => {
    const rows = await server.prisma.auditEvent.count({ where: { outcome: 'DENIED' } });
    expect(rows).toBeGreaterThanOrEqual(guardedRoutes().length);
  });
});
