import { approveDevice } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorCtx } from './cli-support.ts';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

// CoderClaw's task_id is the card's id; terminal states never change. A person re-running the card from
// the board must not make CoderClaw's poll of the old task_id read pending → running → completed again
// (nor 401: the board's run has no runtime session to stand in for the poll).
describe('a runtime task_id keeps answering the execution it was submitted with', () => {
  let server: TestServer;
  let bobKey: string;

  beforeAll(async () => {
    // Bound beyond loopback: no implicit local user, the poll without credentials goes through the session.
    server = await startTestServer({ backend: 'postgres', env: { HOST: '0.0.0.0' } });
    bobKey = (await server.addUserWithKey('bob', 'DEVELOPER')).key;
  });
  afterAll(async () => server?.stop());

  it('still answers completed with the first result after the card is re-run from the board', async () => {
    const { secret } = await approveDevice(server.deps, operatorCtx(), { userId: 'bob', deviceId: 'laptop' });
    const client = new CoderClawClient({
      baseUrl: `${server.url}/k/${secret}`,
      userId: 'bob',
      deviceId: 'laptop',
      pollIntervalMs: 50,
    });
    await client.connect();
    const submitted = await client.submit('echo', 'first run', { echo: { steps: 1, delay_ms: 10 } });
    const taskId = String(submitted.task_id);
    const states: unknown[] = [];
    for await (const s of client.stream(taskId)) states.push(s.state);
    expect(states.at(-1)).toBe('completed');
    const first = (await client.queryTaskState(taskId)) as Json;
    expect(first).toMatchObject({ state: 'completed', result: 'echo: first run' });

    const board = { authorization: `Bearer ${bobKey}`, 'content-type': 'application/json' };
    const rerun = await fetch(`${server.url}/api/tasks/${taskId}/executions`, {
      method: 'POST',
      headers: board,
      body: JSON.stringify({
        prompt: 'second run',
        agent_type: 'echo',
        context: { echo: { steps: 3, delay_ms: 200 } },
      }),
    });
    expect(rerun.status).toBe(201);
    const second = await readJson(rerun);

    const bare = async () => {
      const res = await fetch(`${server.url}/api/runtime/tasks/${taskId}/state`);
      return { status: res.status, body: await readJson(res) };
    };
    // While the re-run is under way, and after it has finished: the same answer every time.
    for (const poll of [() => client.queryTaskState(taskId), async () => (await bare()).body]) {
      expect(await poll()).toMatchObject({
        task_id: taskId,
        execution_uuid: first.execution_uuid,
        state: 'completed',
        result: 'echo: first run',
      });
    }
    await waitFor(async () => {
      const e = await server.prisma.execution.findUniqueOrThrow({ where: { id: second.id } });
      return e.state === 'COMPLETED';
    });
    const after = await bare();
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({
      execution_uuid: first.execution_uuid,
      state: 'completed',
      result: 'echo: first run',
    });
    expect(await client.queryTaskState(taskId)).toMatchObject({ execution_uuid: first.execution_uuid });
    // The board shows the card's latest run.
    const card = await fetch(`${server.url}/api/tasks/${taskId}`, { headers: board }).then(readJson);
    expect(card.latest_execution.id).toBe(second.id);
  });
});
