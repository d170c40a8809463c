import { createApiKey } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorCtx } from './cli-support.ts';
import { ClawLinkAdapterClient } from './test-support/clawlink-adapter-client.ts';
import { adapterExecutionResponse } from './test-support/clawlink-adapter-types.ts';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

/** A card as the board makes one: an agent and run settings, no prompt (the adapter sends that). */
async function makeCard(server: TestServer, body: Record<string, unknown>, token?: string): Promise<Json> {
  const res = await fetch(`${server.url}/api/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ project: 'adapter', title: 'a card', ...body }),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return readJson(res);
}

describe('CoderClaw 2026.3 adapter on a loopback server (the local developer)', () => {
  let server: TestServer;
  let adapter: ClawLinkAdapterClient;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    adapter = new ClawLinkAdapterClient({
      baseUrl: `${server.url}/`,
      clawId: 3,
      userId: 'local',
      deviceId: 'laptop-1',
      pollIntervalMs: 100,
    });
    await adapter.connect();
  });
  afterAll(async () => {
    await adapter?.close();
    await server?.stop();
  });

  it('submits a card made with agent_type echo and polls it to completed', async () => {
    const card = await makeCard(server, {
      agent_type: 'echo',
      context: { echo: { steps: 3, delay_ms: 100 } },
    });
    expect(card).toMatchObject({ agent_type: 'echo', column: 'todo', latest_execution: null });

    const submitted = await adapter.submitTask({
      description: 'Say hello',
      input: 'hello from CoderClaw',
      sessionId: 'agent:main:7',
      metadata: { taskId: card.number },
    });
    expect(['pending', 'planning']).toContain(submitted.status);
    expect(submitted).toMatchObject({
      description: 'Say hello',
      sessionId: 'agent:main:7',
      metadata: { taskId: card.number, clawId: 3, submittedBy: 'local', sessionId: 'agent:main:7' },
    });

    const statuses: string[] = [];
    for await (const update of adapter.streamTaskUpdates(submitted.id)) statuses.push(update.status);
    expect(statuses).toContain('running');
    expect(statuses.at(-1)).toBe('completed');

    const final = await adapter.queryTaskState(submitted.id);
    expect(final).toMatchObject({ status: 'completed', output: 'echo: hello from CoderClaw', progress: 100 });
    expect(final?.completedAt).toBeInstanceOf(Date);

    const onBoard = await readJson(await fetch(`${server.url}/api/tasks/${card.id}`));
    expect(onBoard.latest_execution).toMatchObject({
      number: Number(submitted.id),
      claw_id: 3,
      state: 'completed',
    });
  });

  it('cancels a running task and answers cancelled once it has stopped', async () => {
    const card = await makeCard(server, {
      agent_type: 'echo',
      context: { echo: { steps: 50, delay_ms: 200 } },
    });
    const submitted = await adapter.submitTask({
      description: 'long',
      input: 'take your time',
      metadata: { taskId: card.number },
    });
    await waitFor(async () => (await adapter.queryTaskState(submitted.id))?.status === 'running');
    const asked = Date.now();
    expect(await adapter.cancelTask(submitted.id)).toBe(true);
    // Answered after the runner stopped, not after the 10 s the run would have taken.
    expect(Date.now() - asked).toBeLessThan(8_000);
    const raw = adapterExecutionResponse.parse(adapter.answers.at(-1));
    expect(raw).toMatchObject({ status: 'cancelled', completedAt: expect.any(String) });
    expect((await adapter.queryTaskState(submitted.id))?.status).toBe('cancelled');
    // Cancelling again answers the ended run unchanged; the adapter reads that as cancelled still.
    expect(await adapter.cancelTask(submitted.id)).toBe(true);
    const events = await server.prisma.executionEvent.count({
      where: { execution: { number: Number(submitted.id) }, type: 'message' },
    });
    expect(events).toBeLessThan(50);
  });

  it('lists agents and skills as CoderClaw AgentInfo and SkillInfo', async () => {
    const agents = await adapter.listAgents();
    expect(agents.map((a) => a.id)).toEqual(expect.arrayContaining(['general-purpose', 'echo', 'claude']));
    for (const a of agents) expect(Array.isArray(a.capabilities)).toBe(true);
    const skills = await adapter.listSkills();
    expect(skills.length).toBeGreaterThan(0);
    expect(skills[0]).toMatchObject({ id: expect.any(String), version: '1.0.0', enabled: true });
    const withoutClaw = new ClawLinkAdapterClient({ baseUrl: server.url });
    expect((await withoutClaw.listSkills()).map((s) => s.id)).toEqual(skills.map((s) => s.id));
  });

  it('refuses bad input with a clear status and message', async () => {
    await expect(
      adapter.submitTask({ description: 'x', input: 'x', metadata: { taskId: 424242 } }),
    ).rejects.toThrow(/→ 404: \{"error":"not_found","message":"task #424242 not found"\}/);
    // The adapter itself refuses a non-numeric taskId; a client that sends one anyway gets a 400.
    await expect(
      adapter.submitTask({ description: 'x', input: 'x', metadata: { taskId: 'abc' } }),
    ).rejects.toThrow(/requires metadata\.taskId/);
    await expect(
      adapter.post(`${server.url}/api/runtime/executions`, { taskId: 'abc', payload: 'x' }),
    ).rejects.toThrow(/→ 400: .*body\.taskId: taskId must be the number of a card/);
    const card = await makeCard(server, { agent_type: 'echo' });
    await expect(
      adapter.post(`${server.url}/api/runtime/executions`, { taskId: card.number }),
    ).rejects.toThrow(/→ 400: .*body\.payload: payload must be the prompt/);
    await expect(
      adapter.submitTask({ agentId: '12', description: 'x', input: 'x', metadata: { taskId: card.number } }),
    ).rejects.toThrow(/→ 400: .*agent profiles are not supported here; omit agentId to use the card's agent/);
    // A non-numeric agentId is dropped by the adapter: the card's agent runs.
    const named = await adapter.submitTask({
      agentId: 'claude',
      description: 'x',
      input: 'named',
      metadata: { taskId: card.number },
    });
    const row = await server.prisma.execution.findUniqueOrThrow({ where: { number: Number(named.id) } });
    expect(row.agentType).toBe('echo');
    expect(await adapter.queryTaskState('999999')).toBeNull();
    expect(await adapter.cancelTask('999999')).toBe(false);
  });
});

describe('CoderClaw 2026.3 adapter on a team server (API keys)', () => {
  let server: TestServer;
  let annKey: string;
  let benKey: string;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    annKey = (await server.addUserWithKey('ann', 'DEVELOPER')).key;
    benKey = (await server.addUserWithKey('ben', 'DEVELOPER')).key;
    await server.addUser('cy', 'DEVELOPER');
  });
  afterAll(async () => server?.stop());

  it('needs the key: none is 401, a key lacking task:submit is 403 naming it', async () => {
    const card = await makeCard(server, { agent_type: 'echo' }, annKey);
    const anonymous = new ClawLinkAdapterClient({ baseUrl: server.url });
    await expect(
      anonymous.submitTask({ description: 'x', input: 'x', metadata: { taskId: card.number } }),
    ).rejects.toThrow(/→ 401/);
    const narrow = await createApiKey(server.deps, operatorCtx(), {
      userId: 'ann',
      name: 'view only',
      permissions: ['task:view', 'agent:execute'],
    });
    const viewer = new ClawLinkAdapterClient({ baseUrl: server.url, authToken: narrow.key });
    await expect(
      viewer.submitTask({ description: 'x', input: 'x', metadata: { taskId: card.number } }),
    ).rejects.toThrow(/→ 403: .*user 'ann' lacks task:submit/);
    expect(await viewer.fetchNextQueuedTask()).toBeNull();
    expect((await viewer.listAgents()).length).toBeGreaterThan(0);

    const ann = new ClawLinkAdapterClient({ baseUrl: server.url, authToken: annKey, pollIntervalMs: 100 });
    const started = await ann.submitTask({
      description: 'x',
      input: 'with a key',
      metadata: { taskId: card.number },
    });
    expect(started.metadata).toMatchObject({ submittedBy: 'ann' });
    let last = '';
    for await (const u of ann.streamTaskUpdates(started.id)) last = u.status;
    expect(last).toBe('completed');
    // The narrowed key reads the run it may view.
    expect((await viewer.queryTaskState(started.id))?.output).toBe('echo: with a key');
  });

  it('hands each waiting card out once under two concurrent callers, highest priority first, then oldest', async () => {
    await server.prisma.task.updateMany({ where: { column: 'todo' }, data: { column: 'backlog' } });
    const priorities = ['low', 'urgent', 'medium', 'high', 'medium', 'urgent'] as const;
    const cards: Json[] = [];
    for (const [i, priority] of priorities.entries()) {
      cards.push(await makeCard(server, { title: `card ${i}`, priority }, annKey));
    }
    // Not to be handed out: a card someone else has, and one still in the backlog.
    const cys = await makeCard(server, { title: "cy's", priority: 'urgent', assignee_id: 'cy' }, annKey);
    await makeCard(server, { title: 'later', priority: 'urgent', column: 'backlog' }, annKey);

    const ann = new ClawLinkAdapterClient({ baseUrl: server.url, authToken: annKey });
    const ben = new ClawLinkAdapterClient({ baseUrl: server.url, authToken: benKey });
    const rounds: string[][] = [];
    const claimedBy = new Map<string, string>();
    for (;;) {
      const [a, b] = await Promise.all([ann.fetchNextQueuedTask(), ben.fetchNextQueuedTask()]);
      if (!a && !b) break;
      const round: string[] = [];
      for (const [who, t] of [
        ['ann', a],
        ['ben', b],
      ] as const) {
        if (!t) continue;
        expect(t).toMatchObject({
          status: 'in_progress',
          metadata: { projectId: expect.any(Number), priority: expect.any(String) },
        });
        expect(claimedBy.has(t.id), `card #${t.id} handed out twice`).toBe(false);
        claimedBy.set(t.id, who);
        round.push(t.id);
      }
      rounds.push(round.sort());
      expect(rounds.length).toBeLessThan(10);
    }
    const num = (i: number) => String(cards[i].number);
    expect(rounds).toEqual([
      [num(1), num(5)].sort(), // both urgent
      [num(3), num(2)].sort(), // high, then the older medium
      [num(4), num(0)].sort(), // the newer medium, then low
    ]);
    expect([...claimedBy.keys()]).not.toContain(String(cys.number));
    for (const [number, who] of claimedBy) {
      const row = await server.prisma.task.findUniqueOrThrow({ where: { number: Number(number) } });
      expect(row).toMatchObject({ assigneeId: who, column: 'in_progress' });
    }
    const audit = await server.prisma.auditEvent.findMany({ where: { action: 'task.claim' } });
    expect(audit).toHaveLength(6);
    expect(new Set(audit.map((a) => a.actorUserId))).toEqual(new Set(['ann', 'ben']));
  });
  it('a burst of concurrent claims hands out every card exactly once (FOR UPDATE SKIP LOCKED)', async () => {
    await server.prisma.task.updateMany({ where: { column: 'todo' }, data: { column: 'backlog' } });
    const numbers: string[] = [];
    for (let i = 0; i < 10; i++) {
      const card = await makeCard(server, { title: `burst ${i}`, priority: i % 2 ? 'high' : 'low' }, annKey);
      numbers.push(String(card.number));
    }
    const ann = new ClawLinkAdapterClient({ baseUrl: server.url, authToken: annKey });
    const ben = new ClawLinkAdapterClient({ baseUrl: server.url, authToken: benKey });
    // fetchNextQueuedTask answers null on any error too: ten claims and six nulls means none failed.
    const answers = await Promise.all(
      Array.from({ length: 16 }, (_, i) => (i % 2 ? ann : ben).fetchNextQueuedTask()),
    );
    const claimed = answers.flatMap((t) => (t ? [t.id] : []));
    expect(claimed.sort()).toEqual([...numbers].sort());
    expect(answers.filter((t) => t === null)).toHaveLength(6);
  });
});
