import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClawLinkAdapterClient } from './test-support/clawlink-adapter-client.ts';
import {
  adapterAgentResponse,
  adapterExecutionResponse,
  adapterNextTaskResponse,
  adapterSkillResponse,
} from './test-support/clawlink-adapter-types.ts';
import {
  BACKENDS,
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

/**
 * Each route CoderClaw 2026.3's adapter calls, answered as its types declare
 * (test-support/clawlink-adapter-types.ts), on the loopback `local` developer.
 */
describe.each(BACKENDS)('CoderClaw 2026.3 runtime-executions contract (%s queue)', (backend) => {
  let server: TestServer;
  let client: ClawLinkAdapterClient;

  const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });

  async function card(body: Record<string, unknown>): Promise<Json> {
    const res = await send('POST', '/api/tasks', { project: 'contract', title: 'a card', ...body });
    expect(res.status, await res.clone().text()).toBe(201);
    return readJson(res);
  }

  beforeAll(async () => {
    server = await startTestServer({ backend });
    client = new ClawLinkAdapterClient({ baseUrl: `${server.url}/`, pollIntervalMs: 100 });
  });
  afterAll(async () => server?.stop());

  it('POST /api/runtime/executions answers 201 with the execution; GET answers the same object until it ends', async () => {
    const c = await card({ agent_type: 'echo', context: { echo: { steps: 2, delay_ms: 50 } } });
    const res = await send('POST', '/api/runtime/executions', {
      taskId: c.number,
      sessionId: 'agent:main:42',
      payload: 'say hello',
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const started = adapterExecutionResponse.parse(await readJson(res));
    expect(started).toMatchObject({
      taskId: c.number,
      agentId: null,
      clawId: null,
      submittedBy: 'local',
      sessionId: 'agent:main:42',
      payload: 'say hello',
      result: null,
      errorMessage: null,
      completedAt: null,
    });
    expect(['pending', 'planning', 'running']).toContain(started.status);
    const project = await readJson(await send('GET', '/api/projects'));
    expect(started.tenantId).toBe(project.find((p: Json) => p.slug === 'contract').number);

    const done = await waitFor(async () => {
      const polled = adapterExecutionResponse.parse(
        await readJson(await send('GET', `/api/runtime/executions/${started.id}`)),
      );
      return polled.status === 'completed' && polled;
    });
    expect(done).toMatchObject({ id: started.id, taskId: c.number, result: 'echo: say hello' });
    expect(Date.parse(done.completedAt as string)).toBeGreaterThanOrEqual(
      Date.parse(done.startedAt as string),
    );
    expect(Date.parse(done.updatedAt)).toBeGreaterThanOrEqual(Date.parse(done.createdAt));

    // The run is the card's: its agent, its column, its execution.
    const after = await readJson(await send('GET', `/api/tasks/${c.id}`));
    // Started, the card left To do (a finished run may move it on to Review).
    expect(['in_progress', 'review']).toContain(after.column);
    expect(after.latest_execution).toMatchObject({
      number: started.id,
      agent_type: 'echo',
      state: 'completed',
    });
    const audit = await server.prisma.auditEvent.findMany({ where: { action: 'execution.start' } });
    expect(audit.map((a) => (a.detail as Json).task_id)).toContain(c.id);
  });

  it('records the clawId of the body, else of X-Claw-Id, and shows it on the card', async () => {
    const c = await card({ agent_type: 'echo', context: { echo: { steps: 1, delay_ms: 10 } } });
    const fromBody = adapterExecutionResponse.parse(
      await readJson(
        await send(
          'POST',
          '/api/runtime/executions',
          { taskId: c.number, clawId: 7, payload: 'x' },
          { 'X-Claw-Id': '9' },
        ),
      ),
    );
    expect(fromBody.clawId).toBe(7);
    const fromHeader = adapterExecutionResponse.parse(
      await readJson(
        await send(
          'POST',
          '/api/runtime/executions',
          { taskId: c.number, payload: 'y' },
          { 'X-Claw-Id': '9' },
        ),
      ),
    );
    expect(fromHeader.clawId).toBe(9);
    const task = await readJson(await send('GET', `/api/tasks/${c.id}`));
    expect(task.latest_execution).toMatchObject({ number: fromHeader.id, claw_id: 9 });
    const bad = await send(
      'POST',
      '/api/runtime/executions',
      { taskId: c.number, payload: 'z' },
      { 'X-Claw-Id': 'seven' },
    );
    expect(bad.status).toBe(400);
    expect((await readJson(bad)).message).toMatch(/X-Claw-Id must be/);
  });

  it('without an agent on the card the run goes to general-purpose (DEFAULT_AGENT) with the card context', async () => {
    const c = await card({ context: { echo: { steps: 1, delay_ms: 10 }, ticket: 'APP-1' } });
    expect(c.agent_type).toBeNull();
    const started = adapterExecutionResponse.parse(
      await readJson(
        await send('POST', '/api/runtime/executions', { taskId: c.number, payload: 'default agent' }),
      ),
    );
    const row = await server.prisma.execution.findUniqueOrThrow({ where: { number: started.id } });
    expect(row).toMatchObject({ requestedAgent: 'general-purpose', agentType: 'echo' });
    expect(row.context).toMatchObject({ ticket: 'APP-1', project: 'contract' });
  });

  it('GET /api/runtime/executions/{id} answers 404 for an unknown number and 400 for a non-number', async () => {
    const unknown = await send('GET', '/api/runtime/executions/999999');
    expect(unknown.status).toBe(404);
    expect(await readJson(unknown)).toEqual({ error: 'not_found', message: 'execution #999999 not found' });
    const word = await send('GET', '/api/runtime/executions/abc');
    expect(word.status).toBe(400);
    expect((await readJson(word)).message).toMatch(/params\.id: id must be the number of an execution/);
    // Beyond a Postgres integer no execution can have the number (it was a 500).
    expect((await send('GET', '/api/runtime/executions/9031478266')).status).toBe(400);
    expect(await client.queryTaskState('999999')).toBeNull();
  });

  it('POST /api/runtime/executions/{id}/cancel answers the object; an ended run unchanged', async () => {
    const c = await card({ agent_type: 'echo', context: { echo: { steps: 1, delay_ms: 10 } } });
    const started = adapterExecutionResponse.parse(
      await readJson(await send('POST', '/api/runtime/executions', { taskId: c.number, payload: 'quick' })),
    );
    await waitFor(
      async () => (await server.prisma.execution.findUnique({ where: { number: started.id } }))?.finishedAt,
    );
    const res = await send('POST', `/api/runtime/executions/${started.id}/cancel`, {});
    expect(res.status).toBe(200);
    const answer = adapterExecutionResponse.parse(await readJson(res));
    expect(answer).toMatchObject({ id: started.id, status: 'completed', result: 'echo: quick' });
    const unknown = await send('POST', '/api/runtime/executions/999999/cancel', {});
    expect(unknown.status).toBe(404);
  });

  it('GET /api/agents answers the runtime agents, unavailable ones with the reason in metadata', async () => {
    const res = await send('GET', '/api/agents?user_id=local&device_id=laptop-1');
    expect(res.status).toBe(200);
    const agents = adapterAgentResponse.array().parse(await readJson(res));
    const byType = Object.fromEntries(agents.map((a) => [a.agent_type, a]));
    expect(byType['general-purpose']?.available).toBe(true);
    expect(byType.echo?.available).toBe(true);
    expect(byType.claude?.available).toBe(false);
    expect(byType.claude?.metadata).toMatchObject({ reason: expect.any(String) });
    expect(agents).toEqual(await readJson(await send('GET', '/api/runtime/agents')));
  });

  it('GET /api/skills and /api/claws/{clawId}/skills answer the skill list', async () => {
    const all = adapterSkillResponse.array().parse(await readJson(await send('GET', '/api/skills')));
    expect(all.length).toBeGreaterThan(0);
    expect(all).toEqual(await readJson(await send('GET', '/api/runtime/skills')));
    const claw = await send('GET', '/api/claws/7/skills');
    expect(claw.status).toBe(200);
    expect(adapterSkillResponse.array().parse(await readJson(claw))).toEqual(all);
    expect((await send('GET', '/api/claws/seven/skills')).status).toBe(400);
  });

  it('POST /api/tasks/next (JSON content type, no body) claims the next card, then answers task null', async () => {
    // Cards left in To do by the tests above would be handed out first: take them out of the way.
    await server.prisma.task.updateMany({ where: { column: 'todo' }, data: { column: 'backlog' } });
    const low = await card({ title: 'low', priority: 'low' });
    const high = await card({ title: 'high', priority: 'high' });
    const res = await send('POST', '/api/tasks/next');
    expect(res.status, await res.clone().text()).toBe(200);
    const first = adapterNextTaskResponse.parse(await readJson(res));
    expect(first.task).toEqual({
      id: high.number,
      status: 'in_progress',
      projectId: expect.any(Number),
      priority: 'high',
    });
    const claimed = await readJson(await send('GET', `/api/tasks/${high.id}`));
    expect(claimed).toMatchObject({ column: 'in_progress', assignee_id: 'local' });
    expect(
      adapterNextTaskResponse.parse(await readJson(await send('POST', '/api/tasks/next'))).task?.id,
    ).toBe(low.number);
    expect(await readJson(await send('POST', '/api/tasks/next'))).toEqual({ task: null });
    const audit = await server.prisma.auditEvent.findMany({ where: { action: 'task.claim' } });
    expect(audit.map((a) => a.resourceId)).toEqual(expect.arrayContaining([high.id, low.id]));
  });

  it('answers bad input with 400 or 404 and a message naming the field', async () => {
    const c = await card({ agent_type: 'echo' });
    const cases: Array<[unknown, number, RegExp]> = [
      [{ taskId: 999_999, payload: 'x' }, 404, /^task #999999 not found$/],
      [{ taskId: 'abc', payload: 'x' }, 400, /body\.taskId: taskId must be the number of a card/],
      [{ payload: 'x' }, 400, /body\.taskId: taskId must be/],
      [{ taskId: 2 ** 31, payload: 'x' }, 400, /body\.taskId: taskId must be/],
      [{ taskId: 1.5, payload: 'x' }, 400, /body\.taskId: taskId must be/],
      [{ taskId: c.number }, 400, /body\.payload: payload must be the prompt/],
      [{ taskId: c.number, payload: '' }, 400, /body\.payload: payload must not be empty/],
      [
        { taskId: c.number, payload: 'x', agentId: 3 },
        400,
        /body\.agentId: agent profiles are not supported here; omit agentId to use the card's agent/,
      ],
      [{ taskId: c.number, payload: 'x', clawId: 'x' }, 400, /body\.clawId: clawId must be/],
    ];
    for (const [body, status, message] of cases) {
      const res = await send('POST', '/api/runtime/executions', body);
      const answer = await readJson(res);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(answer.message).toMatch(message);
    }
    const empty = await send('POST', '/api/runtime/executions');
    expect(empty.status).toBe(400);
  });
});
