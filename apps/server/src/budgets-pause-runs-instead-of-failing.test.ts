import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeOpenAI, startFakeOpenAI } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

/**
 * Issue 16, "budgets that pause, not kill": a project's (or a user's) monthly budget holds new runs
 * PENDING with the reason shown and makes running ones wait for approval instead of failing; the
 * per-run max_cost_usd does the same under `on_limit: "ask"`; raising a budget releases what waits.
 * Model costs come from the OpenAI fake (gpt-4.1: $2 per million input tokens, so a call of 10 000
 * input tokens costs $0.02); earlier spend this month is written as the worker would have stored it.
 */
describe('monthly budgets pause runs instead of failing them', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let workspaces: string;
  let admin: Record<string, string>;
  let ada: Record<string, string>;

  const call = async (headers: Record<string, string>, method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const project = async (slug: string, settings: Record<string, unknown>) => {
    const res = await call(admin, 'POST', '/api/projects', { slug, settings });
    expect(res.status).toBe(201);
    return readJson(res);
  };
  const setSettings = async (slug: string, settings: Record<string, unknown>) => {
    const res = await call(admin, 'PATCH', `/api/projects/${slug}`, { settings });
    expect(res.status).toBe(200);
    return readJson(res);
  };
  /** A finished run of this month that cost `usd`, as the worker leaves one. */
  const pastSpend = async (slug: string, usd: number, userId = 'admin') => {
    const p = await server.prisma.project.upsert({
      where: { slug },
      create: { slug, name: slug },
      update: {},
    });
    const task = await server.prisma.task.create({
      data: { projectId: p.id, title: 'earlier', creatorId: userId },
    });
    await server.prisma.execution.create({
      data: {
        taskId: task.id,
        requestedAgent: 'openai',
        agentType: 'openai',
        prompt: 'earlier',
        userId,
        state: 'COMPLETED',
        usage: { input_tokens: 1, output_tokens: 1, cost_usd: usd },
      },
    });
  };
  const submit = async (headers: Record<string, string>, slug: string, agent: 'openai' | 'echo') => {
    const res = await call(headers, 'POST', '/api/tasks', {
      project: slug,
      title: `${agent} in ${slug}`,
      prompt: 'Spend',
      agent_type: agent,
      context: agent === 'echo' ? { echo: { steps: 0, delay_ms: 0 } } : {},
    });
    expect(res.status).toBe(201);
    const card = await readJson(res);
    return { taskId: card.id as string, executionId: card.latest_execution.id as string };
  };
  const execution = async (id: string): Promise<Json> =>
    readJson(await call(admin, 'GET', `/api/executions/${id}`));
  const reaches = (id: string, states: string[], timeoutMs = 15_000) =>
    waitFor(async () => {
      const e = await execution(id);
      return states.includes(e.state) ? e : null;
    }, timeoutMs);
  const decide = async (id: string, verdict: 'approve' | 'deny') => {
    const res = await call(admin, 'POST', `/api/executions/${id}/${verdict}`, { comment: verdict });
    expect(res.status).toBe(200);
  };
  /** A planning call of $0.02, then `finish`. */
  const spendTwoCents = () =>
    fake.script([
      { text: 'plan', usage: { input: 10_000, output: 0 } },
      { toolCalls: [{ name: 'finish', input: { summary: 'spent' } }] },
    ]);

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    server = await startTestServer({
      backend: 'postgres',
      env: { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: fake.url, WORKSPACES_DIR: workspaces },
    });
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    admin = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const { key } = await server.addUserWithKey('ada', 'DEVELOPER');
    ada = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    await rm(workspaces, { recursive: true, force: true });
  });

  it('shows the month’s spend against the budget on the board’s projects: $8.10 of $10 is 81 %', async () => {
    await project('eighty', { budget_usd_month: 10 });
    await project('unbudgeted', {});
    await pastSpend('eighty', 8.1);
    const list: Json[] = await readJson(await call(admin, 'GET', '/api/projects'));
    const month = new Date().toISOString().slice(0, 7);
    expect(list.find((p) => p.slug === 'eighty').budget).toEqual({
      month,
      budget_usd: 10,
      spent_usd: 8.1,
      percent: 81,
    });
    expect(list.find((p) => p.slug === 'unbudgeted').budget).toBeNull();
    expect((await setSettings('eighty', { budget_usd_month: 20 })).budget).toMatchObject({ percent: 40 });
  });

  it('holds a new run PENDING while its project is over budget, with the reason shown; raising the budget starts it', async () => {
    await project('held', { budget_usd_month: 1 });
    await pastSpend('held', 1.2);
    const { taskId, executionId } = await submit(admin, 'held', 'echo');
    const held = await waitFor(async () => {
      const e = await execution(executionId);
      return e.held_reason ? e : null;
    });
    expect(held.state).toBe('pending');
    expect(held.held_reason).toBe('project budget reached ($1.20 of $1.00 this month)');
    const card = await readJson(await call(admin, 'GET', `/api/tasks/${taskId}`));
    expect(card.latest_execution.held_reason).toBe(held.held_reason);

    // Well before the held job's own 30 s look: the raise wakes it.
    await setSettings('held', { budget_usd_month: 5 });
    const done = await reaches(executionId, ['completed', 'failed'], 10_000);
    expect(done.state).toBe('completed');
    expect(done.held_reason).toBeNull();
  });

  it("holds a user's run over their own monthly budget; an admin removing it lets the run start", async () => {
    await project('adas', {});
    const set = await call(admin, 'PATCH', '/api/users/ada', { budget_usd_month: 0.5 });
    expect(set.status).toBe(200);
    expect((await readJson(set)).budget_usd_month).toBe(0.5);
    await pastSpend('adas', 0.6, 'ada');
    const { executionId } = await submit(ada, 'adas', 'echo');
    const held = await waitFor(async () => {
      const e = await execution(executionId);
      return e.held_reason ? e : null;
    });
    expect(held.held_reason).toBe('your monthly budget reached ($0.60 of $0.50 this month)');
    // Someone else's runs in the same project are not held by ada's budget.
    const other = await submit(admin, 'adas', 'echo');
    expect((await reaches(other.executionId, ['completed', 'failed'])).state).toBe('completed');

    expect((await call(admin, 'PATCH', '/api/users/ada', { budget_usd_month: null })).status).toBe(200);
    expect((await reaches(executionId, ['completed', 'failed'], 10_000)).state).toBe('completed');
  });

  it('a running run that crosses its project’s budget waits for approval after the model call, and completes once approved', async () => {
    await project('crossing', { budget_usd_month: 0.01 });
    spendTwoCents();
    const { executionId } = await submit(admin, 'crossing', 'openai');
    const waiting = await reaches(executionId, ['waiting', 'completed', 'failed']);
    expect(waiting.state).toBe('waiting');
    expect(waiting.pending_approval).toMatchObject({
      kind: 'budget',
      description: 'budget reached — approve to continue',
      details: {
        limit: 'project_budget',
        reason: 'project budget reached: $0.02 of $0.01 this month (settings.budget_usd_month)',
        budget_usd: 0.01,
        spent_usd: 0.02,
      },
    });
    // The model call that crossed the budget ended; the next one waits for the decision.
    const calls = fake.requests.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.requests.length).toBe(calls);

    await decide(executionId, 'approve');
    const done = await reaches(executionId, ['completed', 'failed']);
    expect(done.state).toBe('completed');
    expect(fake.requests.length).toBe(calls + 1);
  });

  it('denied, the run ends FAILED naming the budget', async () => {
    await project('denied', { budget_usd_month: 0.01 });
    spendTwoCents();
    const { executionId } = await submit(admin, 'denied', 'openai');
    expect((await reaches(executionId, ['waiting', 'completed', 'failed'])).state).toBe('waiting');
    const calls = fake.requests.length;
    await decide(executionId, 'deny');
    const done = await reaches(executionId, ['completed', 'failed']);
    expect(done.state).toBe('failed');
    expect(done.error).toBe(
      'project budget reached: $0.02 of $0.01 this month (settings.budget_usd_month); denied by admin',
    );
    expect(fake.requests.length).toBe(calls);
  });

  it('raising the budget above the spend releases a run waiting on it, approved by the system with an audit row', async () => {
    await project('raised', { budget_usd_month: 0.01 });
    spendTwoCents();
    const { executionId } = await submit(admin, 'raised', 'openai');
    expect((await reaches(executionId, ['waiting', 'completed', 'failed'])).state).toBe('waiting');
    await setSettings('raised', { budget_usd_month: 10 });
    expect((await reaches(executionId, ['completed', 'failed'])).state).toBe('completed');
    const approval = await server.prisma.auditEvent.findFirst({
      where: { action: 'execution.approve', resourceId: executionId },
    });
    expect(approval?.actorUserId).toBe('system');
    expect(approval?.detail).toMatchObject({
      by: 'system',
      changed_by: 'admin',
      reason: "the project's monthly budget has room again",
    });
  });

  it('on_limit "ask": a run over max_cost_usd waits for approval and goes on; the default still fails it', async () => {
    await project('asks', { max_cost_usd: 0.01, on_limit: 'ask' });
    spendTwoCents();
    const asked = await submit(admin, 'asks', 'openai');
    const waiting = await reaches(asked.executionId, ['waiting', 'completed', 'failed']);
    expect(waiting.state).toBe('waiting');
    expect(waiting.context).toMatchObject({ max_cost_usd: 0.01, on_limit: 'ask' });
    expect(waiting.pending_approval).toMatchObject({
      kind: 'budget',
      details: {
        limit: 'max_cost_usd',
        reason: 'cost limit reached: $0.0200 > $0.01 (context.max_cost_usd)',
        max_cost_usd: 0.01,
      },
    });
    await decide(asked.executionId, 'approve');
    expect((await reaches(asked.executionId, ['completed', 'failed'])).state).toBe('completed');

    await project('fails', { max_cost_usd: 0.01 });
    spendTwoCents();
    const failing = await submit(admin, 'fails', 'openai');
    const failed = await reaches(failing.executionId, ['waiting', 'completed', 'failed']);
    expect(failed.state).toBe('failed');
    expect(failed.error).toBe('cost limit reached: $0.0200 > $0.01 (context.max_cost_usd)');
    expect(failed.context.on_limit).toBeUndefined();
  });
});
