import { randomBytes } from 'node:crypto';
import { approveDevice, hashToken, makeCtx, PERMISSIONS, revokeDevice } from '@ccl/core';
import { uniquePrefix } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { cliEnv, killAllCli, runCli } from './test-support/run-cli.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

const WAITING = (device: string, user: string) =>
  new RegExp(
    `403 .*device '${device}' of user '${user}' is waiting for approval at http://127\\.0\\.0\\.1:\\d+/admin/devices; approving it shows a base URL with the device's secret, once`,
  );
const NEEDS_SECRET = (device: string, user: string) =>
  new RegExp(`403 .*device '${device}' of user '${user}' is approved, but names alone open no session`);
/** A base URL carrying a device secret, as the approval hands it out. */
const SECRET_URL = /^http:\/\/127\.0\.0\.1:\d+\/k\/ccd_[A-Za-z0-9_-]{32}$/;

// A team server: beyond loopback nobody is implicit, so CoderClaw devices pair first.
describe('CoderClaw device pairing on a team server', () => {
  let server: TestServer;
  const tokens: Record<string, string> = {};
  const as = (user: string) => ({ authorization: `Bearer ${tokens[user]}` });

  async function post(path: string, user: string) {
    return fetch(`${server.url}${path}`, { method: 'POST', headers: as(user) });
  }
  async function devices(user: string, query = '') {
    return readJson(await fetch(`${server.url}/api/devices${query}`, { headers: as(user) }));
  }
  /** Approves through the API as `approver` and answers the base URL the approval hands out once. */
  async function approve(id: string, approver: string): Promise<string> {
    const res = await post(`/api/devices/${id}/approve`, approver);
    const body = await readJson(res);
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.base_url).toMatch(SECRET_URL);
    return body.base_url;
  }
  async function pendingId(user: string, device: string): Promise<string> {
    const row = await server.prisma.device.findUniqueOrThrow({
      where: { userId_deviceId: { userId: user, deviceId: device } },
    });
    return row.id;
  }

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { HOST: '0.0.0.0', LOG_LEVEL: 'info' } });
    for (const [id, role] of [
      ['bob', 'DEVELOPER'],
      ['carol', 'DEVELOPER'],
      ['maria', 'MANAGER'],
    ] as const) {
      await server.addUser(id, role);
      tokens[id] = `ccl_${randomBytes(18).toString('base64url')}`;
      await server.prisma.user.update({
        where: { id },
        data: { tokenHash: hashToken(tokens[id] as string) },
      });
    }
  });
  afterAll(async () => {
    await killAllCli();
    await server?.stop();
  });

  it('answers 403 naming the devices page, records a pending request, and pairs once the user approves', async () => {
    const client = new CoderClawClient({
      baseUrl: server.url,
      userId: 'bob',
      deviceId: 'laptop-1',
      pollIntervalMs: 50,
    });
    await expect(client.connect()).rejects.toThrow(WAITING('laptop-1', 'bob'));
    await expect(client.connect()).rejects.toThrow(WAITING('laptop-1', 'bob'));
    expect(await server.prisma.device.count({ where: { userId: 'bob' } })).toBe(1);

    const pending = await devices('bob', '?state=pending');
    expect(pending).toEqual([
      expect.objectContaining({ user_id: 'bob', device_id: 'laptop-1', state: 'pending', decided_at: null }),
    ]);
    expect(pending[0].request_ip).toBeTruthy();
    // Another developer neither sees nor decides bob's device; a manager sees everyone's.
    expect(await devices('carol')).toEqual([]);
    expect((await post(`/api/devices/${pending[0].id}/approve`, 'carol')).status).toBe(404);
    expect(
      (await devices('maria', '?state=pending')).map((d: { device_id: string }) => d.device_id),
    ).toContain('laptop-1');

    const approved = await post(`/api/devices/${pending[0].id}/approve`, 'bob');
    expect(approved.status).toBe(200);
    const answer = await readJson(approved);
    expect(answer).toMatchObject({
      state: 'approved',
      decided_by: 'bob',
      base_url: expect.stringMatching(SECRET_URL),
    });
    // Shown once: the list never carries it, and only its hash is stored.
    const secret = answer.base_url.split('/k/')[1];
    expect(JSON.stringify(await devices('bob'))).not.toContain(secret);
    const row = await server.prisma.device.findUniqueOrThrow({ where: { id: pending[0].id } });
    expect(row.secretHash).toBe(hashToken(secret));

    // The names alone still open nothing; the base URL with the secret does.
    await expect(client.connect()).rejects.toThrow(NEEDS_SECRET('laptop-1', 'bob'));
    const paired = new CoderClawClient({
      baseUrl: answer.base_url,
      userId: 'bob',
      deviceId: 'laptop-1',
      pollIntervalMs: 50,
    });
    const session = await paired.connect();
    expect(session.user_id).toBe('bob');
    const submitted = await paired.submit('echo', 'paired', { echo: { steps: 1, delay_ms: 10 } });
    expect(submitted.state).toBe('pending');
    const states: unknown[] = [];
    for await (const s of paired.stream(String(submitted.task_id))) states.push(s.state);
    expect(states.at(-1)).toBe('completed');

    const audit = await server.prisma.auditEvent.findMany({ where: { resourceType: 'device' } });
    expect(audit.map((a) => `${a.action}:${a.outcome}`)).toEqual(
      expect.arrayContaining(['device.request:ALLOWED', 'session.create:DENIED', 'device.approve:ALLOWED']),
    );
  });

  it('POST /api/runtime/sessions?user_id=dev2&device_id=laptop with no credential answers 403 once the device is approved (it was 200: the two names were the credential)', async () => {
    await server.addUser('dev2', 'DEVELOPER');
    const open = () =>
      fetch(`${server.url}/api/runtime/sessions?user_id=dev2&device_id=laptop`, { method: 'POST' });
    expect((await open()).status).toBe(403);
    const approval = await post(`/api/devices/${await pendingId('dev2', 'laptop')}/approve`, 'maria');
    expect(approval.status).toBe(200);
    const refused = await open();
    expect(refused.status).toBe(403);
    const baseUrl: string = (await readJson(approval)).base_url;
    expect(baseUrl).toMatch(SECRET_URL);
    expect((await readJson(refused)).message).toMatch(
      /approved, but names alone open no session: use the base URL with the device's secret shown once when it was approved; approve it again at http:\/\/127\.0\.0\.1:\d+\/admin\/devices for a new one/,
    );
    expect(await server.prisma.runtimeSession.count({ where: { userId: 'dev2' } })).toBe(0);
    // The secret is scoped to its device: it names neither another device nor another user.
    const other = await fetch(`${baseUrl}/api/runtime/sessions?user_id=dev2&device_id=desktop`, {
      method: 'POST',
    });
    expect(other.status).toBe(403);
    expect((await readJson(other)).message).toMatch(/the secret in the URL is the one of device 'laptop'/);
    const otherUser = await fetch(`${baseUrl}/api/runtime/sessions?user_id=bob`, { method: 'POST' });
    expect(otherUser.status).toBe(403);
    const ok = await fetch(`${baseUrl}/api/runtime/sessions?user_id=dev2&device_id=laptop`, {
      method: 'POST',
    });
    expect(ok.status).toBe(200);
    expect((await readJson(ok)).user_id).toBe('dev2');
    // Approving again hands out a new secret; the old one stops working.
    const renewed = await approve(await pendingId('dev2', 'laptop'), 'maria');
    expect(renewed).not.toBe(baseUrl);
    expect((await fetch(`${baseUrl}/api/runtime/sessions`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${renewed}/api/runtime/sessions`, { method: 'POST' })).status).toBe(200);
  });

  it('pairs an adapter without device_id as the default device', async () => {
    const client = new CoderClawClient({ baseUrl: server.url, userId: 'carol' });
    await expect(client.connect()).rejects.toThrow(WAITING('default', 'carol'));
    // A manager approves someone else's device with device:approve, and passes its base URL on.
    const baseUrl = await approve(await pendingId('carol', 'default'), 'maria');
    await expect(client.connect()).rejects.toThrow(NEEDS_SECRET('default', 'carol'));
    const paired = new CoderClawClient({ baseUrl, userId: 'carol' });
    await paired.connect();
    expect(await paired.listAgents()).toEqual(expect.any(Array));
  });

  it("a stranger cannot fill a user's pending pairing slots: requests without credentials are limited per address and consume nothing of the user's (it was 20 per user, from anyone)", async () => {
    await server.addUser('flood', 'VIEWER');
    const ask = (device: string, remoteAddress: string) =>
      server.inject({
        method: 'POST',
        url: `/api/runtime/sessions?user_id=flood&device_id=${device}`,
        remoteAddress,
      });
    for (let i = 0; i < 10; i++) {
      const res = await ask(`d${i}`, '203.0.113.66');
      expect(res.statusCode).toBe(403);
      expect(res.json().message).toMatch(/is waiting for approval/);
    }
    const more = await ask('d10', '203.0.113.66');
    expect(more.statusCode).toBe(429);
    expect(more.json().message).toMatch(/10 pairing requests from your address are waiting/);
    // The stranger's address is full; the user's own machine still asks, and so do others.
    for (let i = 0; i < 25; i++) {
      const res = await ask(`own-${i}`, `198.51.100.${i + 1}`);
      expect(res.statusCode, res.body).toBe(403);
    }
    expect(await server.prisma.device.count({ where: { userId: 'flood', requestIp: '203.0.113.66' } })).toBe(
      10,
    );
    expect(await server.prisma.device.count({ where: { userId: 'flood' } })).toBe(35);
  });

  /** bob's laptop-1, approved in the first test; approving again hands out a fresh base URL. */
  const laptop = async () =>
    new CoderClawClient({
      baseUrl: await approve(await pendingId('bob', 'laptop-1'), 'bob'),
      userId: 'bob',
      deviceId: 'laptop-1',
    });

  it('stores the session id only hashed; the row id is what audit rows and executions reference', async () => {
    const client = await laptop();
    const { session_id } = await client.connect();
    expect(session_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const rows = await server.prisma.$queryRaw<Array<{ row: string }>>`
      SELECT row_to_json(s)::text AS row FROM runtime_sessions s`;
    expect(rows.length).toBeGreaterThan(0);
    for (const { row } of rows) expect(row).not.toContain(session_id);
    const stored = await server.prisma.runtimeSession.findUniqueOrThrow({
      where: { tokenHash: hashToken(session_id) },
    });
    expect(stored.id).not.toBe(session_id);
    const { task_id } = await client.submit('echo', 'which session', {});
    const execution = await server.prisma.execution.findFirstOrThrow({ where: { taskId: String(task_id) } });
    expect(execution.sessionId).toBe(stored.id);
  });

  it('refuses a session idle for longer than RUNTIME_SESSION_IDLE_S with 404 unknown session', async () => {
    const client = await laptop();
    const { session_id } = await client.connect();
    const idleFor = (server.deps.config.RUNTIME_SESSION_IDLE_S + 60) * 1000;
    await server.prisma.runtimeSession.update({
      where: { tokenHash: hashToken(session_id) },
      data: { lastActivity: new Date(Date.now() - idleFor) },
    });
    await expect(client.listAgents()).rejects.toThrow(/404 .*unknown session/);
  });

  it('revoking a device ends its sessions and its secret at once, cached ones included, and refuses new ones', async () => {
    const client = await laptop();
    await client.connect();
    const { task_id } = await client.submit('echo', 'before revoke', {});
    expect(await client.queryTaskState(String(task_id))).not.toBeNull(); // the session is now cached

    const revoked = await post(`/api/devices/${await pendingId('bob', 'laptop-1')}/revoke`, 'bob');
    expect(await readJson(revoked)).toMatchObject({ state: 'revoked' });
    // CoderClaw's state poll (no session id) and a call with the session id both fail now.
    expect(await client.queryTaskState(String(task_id))).toBeNull();
    const poll = await fetch(`${server.url}/api/runtime/tasks/${task_id}/state`);
    expect(poll.status).toBe(404);
    await expect(client.listAgents()).rejects.toThrow(/404 .*unknown session/);
    // The base URL's secret went with the device; the names alone say what happened.
    await expect(client.connect()).rejects.toThrow(/401 .*device secret is not valid/);
    const named = new CoderClawClient({ baseUrl: server.url, userId: 'bob', deviceId: 'laptop-1' });
    await expect(named.connect()).rejects.toThrow(/403 .*device 'laptop-1' of user 'bob' was revoked/);
    expect(
      (
        await server.prisma.device.findUniqueOrThrow({
          where: { userId_deviceId: { userId: 'bob', deviceId: 'laptop-1' } },
        })
      ).secretHash,
    ).toBeNull();
  });

  it('a revocation made by another process (as the CLI does) reaches the cached session within a moment', async () => {
    const operator = makeCtx({
      userId: 'system',
      roleName: 'SYSTEM',
      permissions: [...PERMISSIONS],
      via: 'system',
    });
    const ref = { userId: 'carol', deviceId: 'desktop' };
    // The server's dependencies without its cache: as the CLI, which shares no memory with the server.
    const { cache: _cache, ...elsewhere } = server.deps;
    const { secret } = await approveDevice(elsewhere, operator, ref);
    const client = new CoderClawClient({
      baseUrl: `${server.url}/k/${secret}`,
      userId: 'carol',
      deviceId: 'desktop',
    });
    await client.connect();
    await client.listAgents(); // cached for 5 s in the server
    const started = Date.now();
    await revokeDevice(elsewhere, operator, ref);
    await waitFor(
      () =>
        client.listAgents().then(
          () => false,
          () => true,
        ),
      2000,
      20,
    );
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('a device may not approve itself from a runtime session, nor a narrowed key', async () => {
    const client = new CoderClawClient({ baseUrl: server.url, userId: 'bob', deviceId: 'tablet' });
    await expect(client.connect()).rejects.toThrow(WAITING('tablet', 'bob'));
    const id = await pendingId('bob', 'tablet');
    const key = await readJson(
      await fetch(`${server.url}/api/keys`, {
        method: 'POST',
        headers: { ...as('bob'), 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'view only', permissions: ['task:view'] }),
      }),
    );
    const narrowed = await fetch(`${server.url}/api/devices/${id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key.key}` },
    });
    expect(narrowed.status).toBe(403);
    expect((await server.prisma.device.findUniqueOrThrow({ where: { id } })).state).toBe('PENDING');
    // Nor does a device's secret vouch for another device.
    const laptopUrl = await approve(await pendingId('bob', 'laptop-1'), 'bob');
    const bySecret = await fetch(`${laptopUrl}/api/devices/${id}/approve`, { method: 'POST' });
    expect(bySecret.status).toBe(403);
    expect((await server.prisma.device.findUniqueOrThrow({ where: { id } })).state).toBe('PENDING');
  });

  it('the CLI lists pending devices, approves and revokes them, audited as system', async () => {
    const env = cliEnv({
      DATABASE_URL: server.databaseUrl,
      LOG_LEVEL: 'warn',
      QUEUE_NAME: uniquePrefix('cli-devices'),
    });
    const client = new CoderClawClient({ baseUrl: server.url, userId: 'carol', deviceId: 'ci-box' });
    await expect(client.connect()).rejects.toThrow(WAITING('ci-box', 'carol'));

    const listed = await runCli(['device', 'list', '--pending'], env);
    expect(listed.code, listed.text).toBe(0);
    expect(listed.stdout).toMatch(/^carol +ci-box +pending /m);
    const approved = await runCli(['device', 'approve', 'carol', 'ci-box'], env);
    expect(approved.code, approved.text).toBe(0);
    expect(approved.stdout).toMatch(
      /^device 'ci-box' of user 'carol' approved\. Its secret is shown once; give CoderClaw this base URL \(your server's address, then \/k\/ and the secret\):\n {2}http:\/\/\S+\/k\/(ccd_[A-Za-z0-9_-]{32})\n$/,
    );
    const secret = /\/k\/(ccd_\S+)/.exec(approved.stdout)?.[1];
    await expect(client.connect()).rejects.toThrow(NEEDS_SECRET('ci-box', 'carol'));
    const paired = new CoderClawClient({
      baseUrl: `${server.url}/k/${secret}`,
      userId: 'carol',
      deviceId: 'ci-box',
    });
    await paired.connect();

    const revoked = await runCli(['device', 'revoke', 'carol', 'ci-box'], env);
    expect(revoked.code, revoked.text).toBe(0);
    await waitFor(
      () =>
        paired.listAgents().then(
          () => false,
          () => true,
        ),
      2000,
      20,
    );
    const unknown = await runCli(['device', 'revoke', 'carol', 'no-such-box'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/device 'no-such-box' of user 'carol' not found/);

    const audit = await server.prisma.auditEvent.findMany({
      where: { resourceType: 'device', actorUserId: 'system', outcome: 'ALLOWED' },
    });
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['device.approve', 'device.revoke']));
  }, 90_000);

  describe('an API key in the base URL (/k/<key>)', () => {
    let key: string;
    beforeAll(async () => {
      const created = await readJson(
        await fetch(`${server.url}/api/keys`, {
          method: 'POST',
          headers: { ...as('bob'), 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'headless coderclaw' }),
        }),
      );
      key = created.key;
    });

    it('runs the whole CoderClaw flow without pairing, and the key never reaches the log', async () => {
      const client = new CoderClawClient({
        baseUrl: `${server.url}/k/${key}`,
        userId: 'bob',
        deviceId: 'headless-runner',
        pollIntervalMs: 50,
      });
      const session = await client.connect();
      expect(session.user_id).toBe('bob');
      const submitted = await client.submit(undefined, 'through the key', {
        echo: { steps: 2, delay_ms: 10 },
      });
      const states: unknown[] = [];
      for await (const s of client.stream(String(submitted.task_id))) states.push(s.state);
      expect(states.at(-1)).toBe('completed');
      expect(await client.listAgents()).toEqual(expect.any(Array));
      expect(await client.listSkills()).toEqual(expect.any(Array));
      expect(await client.cancel(String(submitted.task_id))).toBe(false); // already finished
      const second = await client.submit('echo', 'to cancel', { echo: { steps: 50, delay_ms: 50 } });
      expect(await client.cancel(String(second.task_id))).toBe(true);
      expect(await server.prisma.device.count({ where: { deviceId: 'headless-runner' } })).toBe(0);

      const missing = await fetch(`${server.url}/k/${key}/api/nope`);
      expect(missing.status).toBe(404);
      const missingBody = await missing.text();
      expect(missingBody).toContain('no route GET /api/nope');
      expect(missingBody).not.toContain(key);

      const logs = server.logs();
      expect(logs).toContain('"url":"/api/runtime/tasks/submit"');
      expect(logs).toContain('request completed');
      expect(logs).not.toContain(key);
      expect(logs).not.toContain(key.slice(4, 20));
    });

    it('an API key in the Authorization header opens a session too, and goes with it (it answered 401: only /k/ keys counted)', async () => {
      const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
      const opened = await fetch(`${server.url}/api/runtime/sessions`, { method: 'POST', headers });
      expect(opened.status).toBe(200);
      const { session_id, user_id } = await readJson(opened);
      expect(user_id).toBe('bob');
      const submitted = await fetch(`${server.url}/api/runtime/tasks/submit`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ agent_type: 'echo', prompt: 'header key', context: {}, session_id }),
      });
      expect(submitted.status, await submitted.clone().text()).toBe(200);
      const bare = await fetch(`${server.url}/api/runtime/agents?session_id=${session_id}`);
      expect(bare.status).toBe(404);
    });

    it('the session id it hands out opens nothing without the key', async () => {
      const client = new CoderClawClient({ baseUrl: `${server.url}/k/${key}`, userId: 'bob' });
      const { session_id } = await client.connect();
      const bare = await fetch(`${server.url}/api/runtime/agents?session_id=${session_id}`);
      expect(bare.status).toBe(404);
    });

    it('refuses a wrong key (401), a key of another user (403), and keeps a narrowed key narrow', async () => {
      const wrong = new CoderClawClient({ baseUrl: `${server.url}/k/ccl_not-a-key`, userId: 'bob' });
      await expect(wrong.connect()).rejects.toThrow(/401 /);
      const other = new CoderClawClient({ baseUrl: `${server.url}/k/${key}`, userId: 'carol' });
      await expect(other.connect()).rejects.toThrow(/403 .*belongs to 'bob', not to 'carol'/);

      const viewOnly = await readJson(
        await fetch(`${server.url}/api/keys`, {
          method: 'POST',
          headers: { ...as('bob'), 'content-type': 'application/json' },
          body: JSON.stringify({ name: 'viewer', permissions: ['task:view'] }),
        }),
      );
      const narrow = new CoderClawClient({ baseUrl: `${server.url}/k/${viewOnly.key}` });
      expect((await narrow.connect()).permissions).toEqual(['task:view']);
      await expect(narrow.submit('echo', 'not allowed', {})).rejects.toThrow(/403 .*lacks task:submit/);
    });
  });
});
