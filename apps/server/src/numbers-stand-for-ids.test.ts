import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

// People say "#42": a card's or an execution's number works wherever its id does on the board's API,
// answers exactly like an unknown id when it names nothing or something out of reach, and CoderClaw's
// session routes stay UUID-only (it sends back what it got).
describe('numbers stand for ids', () => {
  let server: TestServer;
  const as: Record<string, Record<string, string>> = {};

  const call = async (who: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...as[who] },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: await readJson(res) };
  };
  const echo = (over: Record<string, unknown> = {}) => ({ echo: { steps: 1, delay_ms: 10, ...over } });

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    as.admin = { authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}` };
    for (const user of ['ann', 'ben']) {
      as[user] = { authorization: `Bearer ${(await server.addUserWithKey(user, 'DEVELOPER')).key}` };
    }
    expect((await call('admin', 'POST', '/api/projects', { slug: 'secret' })).status).toBe(201);
    expect((await call('admin', 'PUT', '/api/projects/secret/members/ben')).status).toBe(200);
  });
  afterAll(async () => server?.stop());

  it('reads, changes and re-runs a card by its number', async () => {
    const created = await call('ann', 'POST', '/api/tasks', {
      project: 'open',
      title: 'numbered',
      prompt: 'one',
      agent_type: 'echo',
      context: echo(),
    });
    expect(created.status).toBe(201);
    const { id, number } = created.body as { id: string; number: number };
    expect(number).toBeGreaterThan(0);

    const got = await call('ann', 'GET', `/api/tasks/${number}`);
    expect(got.status).toBe(200);
    expect(got.body).toMatchObject({ id, number, title: 'numbered' });
    const patched = await call('ann', 'PATCH', `/api/tasks/${number}`, { priority: 'urgent' });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ id, priority: 'urgent' });
    const started = await call('ann', 'POST', `/api/tasks/${number}/executions`, {
      prompt: 'two',
      agent_type: 'echo',
      context: echo(),
    });
    expect(started.status).toBe(201);
    expect(started.body.task_id).toBe(id);
    const listed = await call('ann', 'GET', `/api/tasks/${number}/executions`);
    expect(listed.body.map((e: Json) => e.id)).toContain(started.body.id);
  });

  it('reads, streams, cancels and decides on an execution by its number', async () => {
    const created = await call('ann', 'POST', '/api/tasks', {
      project: 'open',
      title: 'asks',
      prompt: 'x',
      agent_type: 'echo',
      context: echo({ steps: 2, ask_approval: true }),
    });
    const execution = created.body.latest_execution as { id: string; number: number };
    expect(execution.number).toBeGreaterThan(0);
    const got = await call('ann', 'GET', `/api/executions/${execution.number}`);
    expect(got).toMatchObject({ status: 200, body: { id: execution.id } });
    await waitFor(
      async () => (await call('ann', 'GET', `/api/executions/${execution.number}`)).body.state === 'waiting',
    );
    const denied = await call('ann', 'POST', `/api/executions/${execution.number}/deny`, { comment: 'no' });
    expect(denied).toMatchObject({ status: 200, body: { id: execution.id } });
    await waitFor(async () => {
      const state = (await call('ann', 'GET', `/api/executions/${execution.number}`)).body.state;
      return ['completed', 'failed'].includes(state);
    });
    // The event stream by number ends once the execution has; it carries the execution's events.
    const stream = await fetch(`${server.url}/api/executions/${execution.number}/events`, {
      headers: as.ann,
    });
    expect(stream.status).toBe(200);
    const text = await stream.text();
    expect(text).toContain('event: state');
    expect(text).toContain('event: end');

    const slow = await call('ann', 'POST', '/api/tasks', {
      project: 'open',
      title: 'slow',
      prompt: 'x',
      agent_type: 'echo',
      context: echo({ steps: 100, delay_ms: 100 }),
    });
    const cancelled = await call(
      'ann',
      'POST',
      `/api/executions/${slow.body.latest_execution.number}/cancel`,
    );
    expect(cancelled).toMatchObject({
      status: 200,
      body: { success: true, execution: { id: slow.body.latest_execution.id } },
    });
  });

  it('answers a number that names nothing, or something out of reach, like an unknown id', async () => {
    const hidden = await call('ben', 'POST', '/api/tasks', {
      project: 'secret',
      title: 'members only',
      prompt: 'x',
      agent_type: 'echo',
      context: echo(),
    });
    expect(hidden.status).toBe(201);
    const { number, id, latest_execution: exec } = hidden.body as Json;
    expect((await call('ben', 'GET', `/api/tasks/${number}`)).status).toBe(200);

    const unknownTask = await call('ann', 'GET', '/api/tasks/999999');
    expect(unknownTask).toEqual({
      status: 404,
      body: { error: 'not_found', message: 'task 999999 not found' },
    });
    const outOfReach = await call('ann', 'GET', `/api/tasks/${number}`);
    expect(outOfReach).toEqual({
      status: 404,
      body: { error: 'not_found', message: `task ${number} not found` },
    });
    expect(JSON.stringify(outOfReach.body)).not.toContain(id);
    for (const [method, path] of [
      ['PATCH', `/api/tasks/${number}`],
      ['GET', `/api/tasks/${number}/executions`],
      ['POST', `/api/tasks/${number}/executions`],
    ] as const) {
      const body =
        method === 'GET'
          ? undefined
          : method === 'PATCH'
            ? { title: 'x' }
            : { prompt: 'x', agent_type: 'echo' };
      expect(await call('ann', method, path, body)).toEqual(outOfReach);
    }
    const hiddenExecution = await call('ann', 'GET', `/api/executions/${exec.number}`);
    expect(hiddenExecution).toEqual({
      status: 404,
      body: { error: 'not_found', message: `execution ${exec.number} not found` },
    });
    expect(await call('ann', 'POST', `/api/executions/${exec.number}/cancel`)).toEqual(hiddenExecution);
    expect((await call('ann', 'GET', '/api/executions/999999')).body.message).toBe(
      'execution 999999 not found',
    );
    // Past Postgres' integer range: nothing, not a server error.
    expect((await call('ann', 'GET', '/api/tasks/9999999999')).status).toBe(404);
    // The refusal is audited as for an id.
    const refusal = await server.prisma.auditEvent.findFirst({
      where: { action: 'reach.denied', actorUserId: 'ann', resourceId: id },
    });
    expect(refusal).not.toBeNull();
  });

  it('refuses what is neither an id nor a number, and keeps the runtime routes UUID-only', async () => {
    for (const ref of ['0', '-1', '1.5', '042', 'abc']) {
      expect((await call('ann', 'GET', `/api/tasks/${ref}`)).status).toBe(400);
    }
    const task = await call('ann', 'POST', '/api/tasks', { project: 'open', title: 'n' });
    const state = await call('ann', 'GET', `/api/runtime/tasks/${task.body.number}/state`);
    expect(state.status).toBe(400);
    expect(state.body.message).toMatch(/task_id must be a task id/);
    const cancel = await call('ann', 'POST', `/api/runtime/tasks/${task.body.number}/cancel`, {});
    expect(cancel.status).toBe(400);
  });
});
