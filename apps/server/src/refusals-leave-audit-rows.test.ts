import { randomBytes } from 'node:crypto';
import { createApiKey, revokeApiKey, setPassword } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorCtx } from './cli-support.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

const operator = operatorCtx();
const PASSWORD = 'correct horse battery staple';

/**
 * Issue 17, item 12: refusals left no audit row — 401s (missing, bad, revoked, expired keys),
 * out-of-reach 404s, refused repository URLs, keys beyond one's role, revoking someone else's key
 * or session. Now each leaves one, aggregated per (credential or address, minute) so that a flood
 * cannot fill the table.
 */
describe('refusals leave audit rows (team mode)', () => {
  let server: TestServer;
  const as: Record<string, Record<string, string>> = {};
  const keyIds: Record<string, string> = {};
  let alphaTask = '';

  const call = (who: string | null, path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...(who ? as[who] : {}) },
    });

  /** The newest audit row's id: rows after it are what a step wrote. */
  const mark = async () =>
    (await server.prisma.auditEvent.findFirst({ orderBy: { id: 'desc' }, select: { id: true } }))?.id ?? 0n;
  const rowsAfter = (id: bigint, action: string) =>
    server.prisma.auditEvent.findMany({ where: { id: { gt: id }, action }, orderBy: { id: 'asc' } });

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    as.admin = { authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}` };
    for (const [user, role] of [
      ['ann', 'DEVELOPER'],
      ['ben', 'DEVELOPER'],
      ['vic', 'VIEWER'],
    ] as const) {
      const { key, keyId: id } = await server.addUserWithKey(user, role);
      as[user] = { authorization: `Bearer ${key}` };
      keyIds[user] = id;
    }
    await call('admin', '/api/projects', { method: 'POST', body: JSON.stringify({ slug: 'alpha' }) });
    await call('admin', '/api/projects/alpha/members/ann', { method: 'PUT' });
    const task = await readJson(
      await call('ann', '/api/tasks', {
        method: 'POST',
        body: JSON.stringify({ project: 'alpha', title: 'members only' }),
      }),
    );
    alphaTask = task.id;
  });
  afterAll(async () => server?.stop());

  it('401s for missing, unknown, revoked and expired keys leave a DENIED auth.refused row', async () => {
    const revoked = await createApiKey(server.deps, operator, { userId: 'ann', name: 'to revoke' });
    await revokeApiKey(server.deps, operator, revoked.id);
    const expired = await createApiKey(server.deps, operator, { userId: 'ben', name: 'to expire' });
    await server.prisma.apiKey.update({
      where: { id: expired.id },
      data: { expiresAt: new Date(Date.now() - 1) },
    });
    const from = await mark();
    const attempts: Array<[Record<string, string>, RegExp, string | null, string | null]> = [
      [{}, /no credentials/, null, null],
      [{ authorization: 'Bearer ccl_not-a-key' }, /unknown/, null, null],
      [{ authorization: `Bearer ${revoked.key}` }, /revoked/, `api_key:${revoked.id}`, 'ann'],
      [{ authorization: `Bearer ${expired.key}` }, /expired/, `api_key:${expired.id}`, 'ben'],
      [{ cookie: 'ccl_session=made-up' }, /sign-in/, null, null],
    ];
    for (const [headers] of attempts) {
      expect((await fetch(`${server.url}/api/tasks`, { headers })).status).toBe(401);
    }
    const rows = await rowsAfter(from, 'auth.refused');
    expect(rows).toHaveLength(attempts.length);
    attempts.forEach(([, reason, credential, actor], i) => {
      expect(rows[i]).toMatchObject({
        outcome: 'DENIED',
        resourceType: 'credential',
        resourceId: credential,
        actorUserId: actor,
        detail: expect.objectContaining({ reason: expect.stringMatching(reason), address: '127.0.0.1' }),
      });
    });
  });

  it('a runtime session asked for with no credential and no user_id leaves a DENIED auth.refused row', async () => {
    const from = await mark();
    const res = await fetch(`${server.url}/api/runtime/sessions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
    });
    expect(res.status).toBe(401);
    const rows = await rowsAfter(from, 'auth.refused');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      outcome: 'DENIED',
      resourceType: 'credential',
      detail: expect.objectContaining({ reason: expect.stringMatching(/no credential and no user_id/) }),
    });
  });

  it('an out-of-reach 404 leaves a DENIED reach row; an unknown id does not', async () => {
    const from = await mark();
    expect((await call('ben', `/api/tasks/${alphaTask}`)).status).toBe(404);
    expect((await call('ben', '/api/tasks/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect(await rowsAfter(from, 'reach.denied')).toEqual([
      expect.objectContaining({
        outcome: 'DENIED',
        resourceType: 'task',
        resourceId: alphaTask,
        actorUserId: 'ben',
      }),
    ]);
  });

  it('a refused repository URL leaves a DENIED repo.refused row', async () => {
    const from = await mark();
    const res = await call('ann', '/api/tasks', {
      method: 'POST',
      body: JSON.stringify({
        title: 'clone the server',
        prompt: 'hi',
        agent_type: 'echo',
        context: { repo: 'http://user:pw@127.0.0.1:9/x.git' },
      }),
    });
    expect(res.status).toBe(400);
    const rows = await rowsAfter(from, 'repo.refused');
    expect(rows).toEqual([
      expect.objectContaining({ outcome: 'DENIED', resourceType: 'repository', actorUserId: 'ann' }),
    ]);
    // The URL is recorded without its userinfo.
    expect(JSON.stringify(rows.map((r) => [r.resourceId, r.detail]))).not.toContain('pw@');
  });

  it("a key beyond one's role leaves a DENIED apikey.create row", async () => {
    const from = await mark();
    const res = await call('vic', '/api/keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'more', permissions: ['task:submit'] }),
    });
    expect(res.status).toBe(400);
    expect(await rowsAfter(from, 'apikey.create')).toEqual([
      expect.objectContaining({
        outcome: 'DENIED',
        actorUserId: 'vic',
        detail: expect.objectContaining({ reason: expect.stringMatching(/task:submit/) }),
      }),
    ]);
  });

  it("revoking someone else's key or browser session leaves a DENIED row", async () => {
    const from = await mark();
    expect((await call('ben', `/api/keys/${keyIds.ann}/revoke`, { method: 'POST' })).status).toBe(404);
    expect(await rowsAfter(from, 'apikey.revoke')).toEqual([
      expect.objectContaining({ outcome: 'DENIED', resourceId: keyIds.ann, actorUserId: 'ben' }),
    ]);
    await setPassword(server.deps, { userId: 'ann', password: PASSWORD });
    const signIn = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'ann', password: PASSWORD }),
    });
    expect(signIn.status).toBe(200);
    const session = await server.prisma.webSession.findFirstOrThrow({ where: { userId: 'ann' } });
    const next = await mark();
    expect((await call('ben', `/api/auth/sessions/${session.id}/revoke`, { method: 'POST' })).status).toBe(
      404,
    );
    expect(await rowsAfter(next, 'auth.session.revoke')).toEqual([
      expect.objectContaining({ outcome: 'DENIED', resourceId: session.id, actorUserId: 'ben' }),
    ]);
  });

  it('a flood of bad keys from one address leaves one row per minute, with the count', async () => {
    const from = await mark();
    const flood = 300;
    for (let i = 0; i < flood; i++) {
      const res = await server.inject({
        method: 'GET',
        url: '/api/tasks',
        remoteAddress: '203.0.113.7',
        headers: { authorization: `Bearer ccl_${randomBytes(12).toString('hex')}` },
      });
      expect(res.statusCode).toBe(401);
    }
    const fromFlood = async () =>
      (await rowsAfter(from, 'auth.refused')).filter(
        (r) => (r.detail as { address?: string }).address === '203.0.113.7',
      );
    // One row at once per (address, minute) — two if the flood crossed a minute.
    expect((await fromFlood()).length).toBeLessThanOrEqual(2);
    // The rest is counted and written when the minute ends (or the process stops).
    await server.stopServer();
    const rows = await waitFor(async () => {
      const found = await fromFlood();
      return found.reduce((n, r) => n + Number((r.detail as { count?: number }).count ?? 0), 0) === flood
        ? found
        : null;
    });
    expect(rows.length).toBeLessThanOrEqual(4);
  });
});
