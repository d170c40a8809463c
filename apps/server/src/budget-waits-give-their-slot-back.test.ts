import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeOpenAI, startFakeOpenAI } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Json,
  readJson,
  startTestServer,
  submitEcho,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

/**
 * Issue 16, "waiting costs nothing" for budget stops: a run of the tool loop (OpenAI, Claude,
 * Ollama) that crosses a limit after a model call parks with the loop's state at that call, so it
 * holds no worker slot while a person decides; approved, it goes on from that call on whichever
 * worker takes it, and is not asked about that limit again. Costs come from the OpenAI fake (gpt-4.1:
 * $2 per million input tokens, so 10 000 input tokens cost $0.02).
 */
describe('a run stopped at a budget gives its worker slot back', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let workspaces: string;
  let admin: Record<string, string>;

  const call = async (method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: admin,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const execution = async (id: string): Promise<Json> => readJson(await call('GET', `/api/executions/${id}`));
  const reaches = (id: string, states: string[], timeoutMs = 15_000) =>
    waitFor(async () => {
      const e = await execution(id);
      return states.includes(e.state) ? e : null;
    }, timeoutMs);
  const submitOpenAI = async (slug: string) => {
    const res = await call('POST', '/api/tasks', {
      project: slug,
      title: `spends in ${slug}`,
      prompt: 'Spend',
      agent_type: 'openai',
    });
    expect(res.status).toBe(201);
    return (await readJson(res)).latest_execution.id as string;
  };
  const decide = async (id: string, verdict: 'approve' | 'deny') => {
    expect((await call('POST', `/api/executions/${id}/${verdict}`, { comment: verdict })).status).toBe(200);
  };
  const parked = async () => {
    await waitFor(async () => (await server.deps.queue.counts?.())?.active === 0, 10_000, 50);
    return (await server.deps.queue.counts?.())?.delayed;
  };
  const stateEvents = async (id: string) =>
    server.prisma.executionEvent.findMany({
      where: { executionId: id, type: { in: ['state', 'resumed'] } },
      orderBy: { seq: 'asc' },
      select: { type: true, data: true },
    });

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    // One slot: a second run can only finish if the stopped one gave it back.
    server = await startTestServer({
      backend: 'redis',
      env: {
        OPENAI_API_KEY: 'test-key',
        OPENAI_BASE_URL: fake.url,
        WORKSPACES_DIR: workspaces,
        WORKER_CONCURRENCY: '1',
      },
    });
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    admin = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    await rm(workspaces, { recursive: true, force: true });
  });

  it('parks at max_cost_usd (on_limit "ask"); another run uses the slot; approved, it goes on from its model call and is not asked again', async () => {
    expect(
      (
        await call('POST', '/api/projects', {
          slug: 'asks',
          settings: { max_cost_usd: 0.01, on_limit: 'ask' },
        })
      ).status,
    ).toBe(201);
    fake.script([
      { text: 'plan: list, then finish', usage: { input: 10_000, output: 0 } },
      { toolCalls: [{ name: 'list_files', input: { path: '.' } }], usage: { input: 10_000, output: 0 } },
      { toolCalls: [{ name: 'finish', input: { summary: 'listed' } }] },
    ]);
    const id = await submitOpenAI('asks');
    const waiting = await reaches(id, ['waiting', 'completed', 'failed']);
    expect(waiting.state).toBe('waiting');
    expect(waiting.pending_approval).toMatchObject({ kind: 'budget', details: { limit: 'max_cost_usd' } });
    expect(fake.requests.length).toBe(1);
    // No worker holds it: its job sleeps until the decision.
    expect(await parked()).toBe(1);
    const stored = await server.prisma.execution.findUniqueOrThrow({
      where: { id },
      select: { checkpoint: true },
    });
    expect(stored.checkpoint).toMatchObject({
      kind: 'approval',
      limit: { name: 'max_cost_usd', message: 'cost limit reached: $0.0200 > $0.01 (context.max_cost_usd)' },
    });

    const other = await submitEcho(server, 'other', 'uses the one slot', { steps: 1, delay_ms: 0 });
    expect((await reaches(other.executionId, ['completed', 'failed'])).state).toBe('completed');
    expect((await execution(id)).state).toBe('waiting');

    await decide(id, 'approve');
    const done = await reaches(id, ['completed', 'failed']);
    expect(done.state).toBe('completed');
    expect(done.result).toBe('listed');
    // Two more calls, $0.04 in all against a $0.01 limit, without a second question about it.
    expect(fake.requests.length).toBe(3);
    expect(done.usage.cost_usd).toBeCloseTo(0.04, 3);
    // The first turn after the park carried the plan from before it: the run did not plan again.
    const resumedTurn = JSON.stringify(fake.requests[1]?.body?.messages);
    expect(resumedTurn).toContain('plan: list, then finish');
    const events = await stateEvents(id);
    const to = events.filter((e) => e.type === 'state').map((e) => (e.data as { to: string }).to);
    expect(to).toEqual(['planning', 'running', 'waiting', 'running', 'completed']);
    // The decision names the limit it let the run past, for the run's later checks.
    const decided = events.find((e) => (e.data as { decision?: unknown }).decision);
    expect(decided?.data).toMatchObject({ decision: { approved: true, limit: 'max_cost_usd' } });
    expect(events.filter((e) => e.type === 'resumed')).toHaveLength(1);
  });

  it('denied while parked, it ends FAILED naming the limit, and the model is not called again', async () => {
    expect(
      (await call('POST', '/api/projects', { slug: 'capped', settings: { budget_usd_month: 0.01 } })).status,
    ).toBe(201);
    fake.script([
      { text: 'plan', usage: { input: 10_000, output: 0 } },
      { toolCalls: [{ name: 'finish', input: { summary: 'never' } }] },
    ]);
    const before = fake.requests.length;
    const id = await submitOpenAI('capped');
    expect((await reaches(id, ['waiting', 'completed', 'failed'])).state).toBe('waiting');
    expect(await parked()).toBe(1);
    await decide(id, 'deny');
    const done = await reaches(id, ['completed', 'failed']);
    expect(done.state).toBe('failed');
    expect(done.error).toBe(
      'project budget reached: $0.02 of $0.01 this month (settings.budget_usd_month); denied by admin',
    );
    expect(fake.requests.length).toBe(before + 1);
    expect(await parked()).toBe(0);
  });
});
