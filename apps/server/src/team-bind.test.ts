import { approveDevice, makeCtx, PERMISSIONS } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

// Bound beyond loopback there is no implicit local user; CoderClaw's flow must still work with a user_id.
describe('a server listening on all interfaces', () => {
  let server: TestServer;
  const operator = makeCtx({
    userId: 'system',
    roleName: 'SYSTEM',
    permissions: [...PERMISSIONS],
    via: 'system',
  });

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { HOST: '0.0.0.0' } });
    await server.addUser('bob', 'DEVELOPER');
  });
  afterAll(async () => server?.stop());

  it('refuses a session without user_id and board calls without credentials (401)', async () => {
    const anonymous = new CoderClawClient({ baseUrl: server.url });
    await expect(anonymous.connect()).rejects.toThrow(
      /401 .*credentials required: use the base URL an approved device was given/,
    );
    const res = await fetch(`${server.url}/api/tasks`);
    expect(res.status).toBe(401);
    expect(await readJson(res)).toMatchObject({ error: 'unauthorized' });
  });

  it("serves CoderClaw's state polls, which carry no session id, through the submitting session", async () => {
    const client = new CoderClawClient({ baseUrl: server.url, userId: 'bob', pollIntervalMs: 100 });
    // Beyond loopback a device pairs first (device-pairing.test.ts has the whole flow).
    await expect(client.connect()).rejects.toThrow(
      /403 .*device 'default' of user 'bob' is waiting for approval/,
    );
    // Names alone never open a session here; the approval's base URL (with the device's secret) does.
    const { secret } = await approveDevice(server.deps, operator, { userId: 'bob', deviceId: 'default' });
    await expect(client.connect()).rejects.toThrow(/403 .*is approved, but names alone open no session/);
    const paired = new CoderClawClient({
      baseUrl: `${server.url}/k/${secret}`,
      userId: 'bob',
      pollIntervalMs: 100,
    });
    await paired.connect();
    const { task_id } = await paired.submit('echo', 'remote', { echo: { steps: 1, delay_ms: 10 } });
    const states: unknown[] = [];
    for await (const s of paired.stream(String(task_id))) states.push(s.state);
    expect(states.at(-1)).toBe('completed');
    // Without the base URL's key (as CoderClaw's poll may be proxied) the submitting session stands in.
    const bare = await fetch(`${server.url}/api/runtime/tasks/${task_id}/state`);
    expect(bare.status).toBe(200);
    expect((await readJson(bare)).state).toBe('completed');
    expect(await paired.queryTaskState('00000000-0000-4000-8000-000000000000')).toBeNull();
    const unknown = await fetch(`${server.url}/api/runtime/tasks/00000000-0000-4000-8000-000000000000/state`);
    expect(unknown.status).toBe(404);
  });
});
