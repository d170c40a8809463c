import { approveDevice, revokeDevice } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorCtx } from './cli-support.ts';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

// A CoderClaw client restarted since the submit has no session id for its cancel. As on the state poll,
// the task id stands for the session that submitted it, while that session is live.
describe('cancel of a runtime task without session_id', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { HOST: '0.0.0.0' } });
    await server.addUser('bob', 'DEVELOPER');
  });
  afterAll(async () => server?.stop());

  async function submitSlow(deviceId: string) {
    const { secret } = await approveDevice(server.deps, operatorCtx(), { userId: 'bob', deviceId });
    const client = new CoderClawClient({ baseUrl: `${server.url}/k/${secret}`, userId: 'bob', deviceId });
    await client.connect();
    const state = await client.submit('echo', 'a long run', { echo: { steps: 100, delay_ms: 100 } });
    return String(state.task_id);
  }

  // No key in the URL, no session id: what a restarted adapter (or one behind a proxy) sends.
  const bareCancel = (taskId: string, body?: unknown) =>
    fetch(`${server.url}/api/runtime/tasks/${taskId}/cancel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  it('cancels through the session that submitted the task while it is valid', async () => {
    const taskId = await submitSlow('laptop');
    const res = await bareCancel(taskId, {});
    expect(res.status).toBe(200);
    expect(await readJson(res)).toEqual({ success: true, task_id: taskId });
    // No body at all works too (success may be false by now: the run may have stopped already).
    const again = await bareCancel(taskId);
    expect(again.status).toBe(200);
    expect(await readJson(again)).toMatchObject({ task_id: taskId });
    const execution = await server.prisma.execution.findFirstOrThrow({ where: { taskId } });
    expect(execution.cancelRequestedAt).not.toBeNull();
    const audit = await server.prisma.auditEvent.findFirstOrThrow({
      where: { action: 'execution.cancel', resourceId: execution.id },
    });
    expect(audit).toMatchObject({ actorUserId: 'bob', outcome: 'ALLOWED' });
  });

  it('refuses once that session is revoked, and the run goes on', async () => {
    const taskId = await submitSlow('desktop');
    // Revoked as the CLI does it, from outside the API's read cache: the API hears of it by the
    // NOTIFY sent with the commit. Wait for that (a state poll needs the same session) rather than
    // race it; a cancel sent first would still be the session's.
    await revokeDevice(server.deps, operatorCtx(), { userId: 'bob', deviceId: 'desktop' });
    await waitFor(
      async () => (await fetch(`${server.url}/api/runtime/tasks/${taskId}/state`)).status === 404,
      5_000,
      10,
    );
    const res = await bareCancel(taskId, {});
    expect(res.status).toBe(404);
    expect((await readJson(res)).message).toMatch(/the session that submitted task .* has ended/);
    const execution = await server.prisma.execution.findFirstOrThrow({ where: { taskId } });
    expect(execution.cancelRequestedAt).toBeNull();
  });

  it('answers 404 for an unknown task', async () => {
    const res = await bareCancel('00000000-0000-4000-8000-000000000000', {});
    expect(res.status).toBe(404);
  });
});
