import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

// Starting a run puts its card In progress; a completed run puts it up for Review; failed and cancelled
// runs leave it where it is (the badge tells). A card a person already moved stays where they put it.
describe('cards follow their execution', () => {
  let server: TestServer;

  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: await readJson(res) };
  };
  const card = async (id: string): Promise<Json> => (await call('GET', `/api/tasks/${id}`)).body;
  const settled = (id: string) =>
    waitFor(async () => {
      const c = await card(id);
      return ['completed', 'failed', 'cancelled'].includes(c.latest_execution?.state) && c;
    }, 20_000);

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
  });
  afterAll(async () => server?.stop());

  it('a card created with a run starts In progress, whatever column was asked, and moves to Review on completion', async () => {
    const created = await call('POST', '/api/tasks', {
      project: 'flow',
      title: 'asked for todo',
      column: 'todo',
      prompt: 'hi',
      agent_type: 'echo',
      context: { echo: { steps: 2, delay_ms: 100 } },
    });
    expect(created.status).toBe(201);
    expect(created.body.column).toBe('in_progress');
    const done = await settled(created.body.id);
    expect(done.latest_execution.state).toBe('completed');
    // The card and its executions are two reads: one answer may catch the commit between them.
    await waitFor(async () => (await card(created.body.id)).column === 'review', 5_000);

    // Re-running from Review moves it back to In progress, and completion to Review again.
    const rerun = await call('POST', `/api/tasks/${created.body.id}/executions`, {
      prompt: 'again',
      agent_type: 'echo',
      context: { echo: { steps: 2, delay_ms: 100 } },
    });
    expect(rerun.status).toBe(201);
    expect((await card(created.body.id)).column).toBe('in_progress');
    await waitFor(async () => (await card(created.body.id)).latest_execution.state === 'completed', 20_000);
    expect((await card(created.body.id)).column).toBe('review');
  });

  it('a task CoderClaw submits goes In progress, then Review', async () => {
    const client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
    const submitted = await client.submit('echo', 'from coderclaw', { echo: { steps: 1, delay_ms: 10 } });
    const taskId = String(submitted.task_id);
    expect((await card(taskId)).column).toBe('in_progress');
    for await (const _ of client.stream(taskId)) {
      // until terminal
    }
    expect((await card(taskId)).column).toBe('review');
  });

  it('failed and cancelled runs leave the card In progress with their badge', async () => {
    const failed = await call('POST', '/api/tasks', {
      project: 'flow',
      title: 'fails',
      prompt: 'x',
      agent_type: 'echo',
      context: { echo: { steps: 1, delay_ms: 10, fail: true } },
    });
    const slow = await call('POST', '/api/tasks', {
      project: 'flow',
      title: 'cancelled',
      prompt: 'x',
      agent_type: 'echo',
      context: { echo: { steps: 100, delay_ms: 100 } },
    });
    await waitFor(async () => (await card(slow.body.id)).latest_execution.state === 'running', 20_000);
    expect((await call('POST', `/api/executions/${slow.body.latest_execution.id}/cancel`)).status).toBe(200);
    expect(await settled(failed.body.id)).toMatchObject({
      column: 'in_progress',
      latest_execution: { state: 'failed' },
    });
    expect(await settled(slow.body.id)).toMatchObject({
      column: 'in_progress',
      latest_execution: { state: 'cancelled' },
    });
  });

  it('a card a person moved while it ran stays where they put it', async () => {
    const created = await call('POST', '/api/tasks', {
      project: 'flow',
      title: 'moved by hand',
      prompt: 'x',
      agent_type: 'echo',
      context: { echo: { steps: 5, delay_ms: 100 } },
    });
    expect((await call('PATCH', `/api/tasks/${created.body.id}`, { column: 'done' })).status).toBe(200);
    expect(await settled(created.body.id)).toMatchObject({
      column: 'done',
      latest_execution: { state: 'completed' },
    });
  });

  it("a re-run that names no agent uses the card's own agent and settings", async () => {
    const created = await call('POST', '/api/tasks', {
      project: 'flow',
      title: 'kept settings',
      agent_type: 'echo',
      context: { echo: { steps: 1, delay_ms: 10, fail: 'from the card' } },
    });
    expect(created.body).toMatchObject({ column: 'todo', agent_type: 'echo', latest_execution: null });
    const run = await call('POST', `/api/tasks/${created.body.number}/executions`, { prompt: 'go' });
    expect(run.status).toBe(201);
    expect(await settled(created.body.id)).toMatchObject({
      latest_execution: { agent_type: 'echo', state: 'failed' },
    });
    const execution = await server.prisma.execution.findFirstOrThrow({ where: { taskId: created.body.id } });
    expect(execution.error).toBe('from the card');
  });
});
