import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

// Bound beyond loopback there is no implicit local user; CoderClaw's flow must still work with a user_id.
describe('a server listening on all interfaces', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { HOST: '0.0.0.0' } });
    await server.addUser('bob', 'DEVELOPER');
  });
  afterAll(async () => server?.stop());

  it('refuses a session without user_id and board calls without credentials (401)', async () => {
    const anonymous = new CoderClawClient({ baseUrl: server.url });
    await expect(anonymous.connect()).rejects.toThrow(/401 .*user_id is required/);
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
    await server.prisma.device.update({
      where: { userId_deviceId: { userId: 'bob', deviceId: 'default' } },
      data: { state: 'APPROVED' },
    });
    await client.connect();
    const { task_id } = await client.submit('echo', 'remote', { echo: { steps: 1, delay_ms: 10 } });
    const states: unknown[] = [];
    for await (const s of client.stream(String(task_id))) states.push(s.state);
    expect(states.at(-1)).toBe('completed');
    expect(await client.queryTaskState('00000000-0000-4000-8000-000000000000')).toBeNull();
    const unknown = await fetch(`${server.url}/api/runtime/tasks/00000000-0000-4000-8000-000000000000/state`);
    expect(unknown.status).toBe(404);
  });
});
