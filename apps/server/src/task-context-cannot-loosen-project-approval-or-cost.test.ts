import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeOpenAI, startFakeOpenAI } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

/**
 * Issue 17, item 10: a task's context loosened its project's policy. Submitted with
 * `{ approval: "none", max_cost_usd: 1e6 }` into a project set to `approval: "commands"` and
 * `max_cost_usd: 0.01`, the run ran its commands unasked and could spend a million dollars.
 * Project settings (and the server's limits) are ceilings a task can only tighten.
 */
describe("a task's context cannot loosen its project's approval or cost ceiling", () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let client: CoderClawClient;
  let admin: Record<string, string>;
  let workspaces: string;
  const loose = { project: 'tight', approval: 'none', max_cost_usd: 1e6 };

  const stateOf = (taskId: string, want: string[]) =>
    waitFor(async () => {
      const s = await client.queryTaskState(taskId);
      return s && want.includes(String(s.state)) ? (s as Json) : null;
    }, 15_000);
  const contextOf = async (executionId: string) =>
    (await server.prisma.execution.findUniqueOrThrow({ where: { id: executionId } })).context;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    // gpt-4.1, the default model, costs $2 per million input tokens.
    server = await startTestServer({
      backend: 'postgres',
      env: { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: fake.url, WORKSPACES_DIR: workspaces },
    });
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    admin = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ slug: 'tight', settings: { approval: 'commands', max_cost_usd: 0.01 } }),
    });
    expect(created.status).toBe(201);
    client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    await rm(workspaces, { recursive: true, force: true });
  });

  it('approval "none" over the project\'s "commands": the run still waits for approval on a command', async () => {
    fake.script([{ text: 'plan' }, { toolCalls: [{ name: 'run_command', input: { command: 'true' } }] }]);
    const { task_id } = await client.submit('openai', 'Run a command', loose);
    const waiting = await stateOf(String(task_id), ['waiting', 'completed', 'failed']);
    expect(waiting.state).toBe('waiting');
    expect(waiting.metadata.pending_approval).toMatchObject({ kind: 'command', description: 'run: true' });
    expect(await contextOf(String(waiting.execution_uuid))).toMatchObject({
      project: 'tight',
      approval: 'commands',
      max_cost_usd: 0.01,
    });
    expect(await client.cancel(String(task_id))).toBe(true);
  });

  it("max_cost_usd 1e6 over the project's 0.01: a run costing $0.02 ends FAILED at $0.01", async () => {
    fake.script([
      { text: 'plan', usage: { input: 10_000, output: 0 } },
      { toolCalls: [{ name: 'finish', input: { summary: 'spent' } }] },
    ]);
    const { task_id } = await client.submit('openai', 'Spend', loose);
    const final = await stateOf(String(task_id), ['completed', 'failed', 'cancelled']);
    expect(final.state).toBe('failed');
    expect(final.error).toBe('cost limit reached: $0.0200 > $0.01 (context.max_cost_usd)');
  });

  it('a re-run of the card is held to the same ceilings', async () => {
    const card = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ project: 'tight', title: 'later' }),
    });
    const { id } = await readJson(card);
    const started = await fetch(`${server.url}/api/tasks/${id}/executions`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        prompt: 'p',
        agent_type: 'echo',
        context: { approval: 'none', max_cost_usd: 1e6, echo: { steps: 0, delay_ms: 0 } },
      }),
    });
    expect(started.status).toBe(201);
    const execution = await readJson(started);
    expect(execution.context).toMatchObject({ project: 'tight', approval: 'commands', max_cost_usd: 0.01 });
  });

  it('a task may tighten: approval "commands" and a lower cost ceiling in a project without them', async () => {
    const { task_id } = await client.submit('echo', 'quiet', {
      approval: 'commands',
      max_cost_usd: 0.5,
      echo: { steps: 0, delay_ms: 0 },
    });
    const final = await stateOf(String(task_id), ['completed', 'failed']);
    expect(await contextOf(String(final.execution_uuid))).toMatchObject({
      project: 'inbox',
      approval: 'commands',
      max_cost_usd: 0.5,
    });
  });

  it('refuses run options that do not parse, naming the field', async () => {
    await expect(client.submit('echo', 'x', { approval: 'whenever' })).rejects.toThrow(/400.*approval/);
    await expect(client.submit('echo', 'x', { max_cost_usd: -1 })).rejects.toThrow(/400.*max_cost_usd/);
    await expect(client.submit('echo', 'x', { max_turns: 'lots' })).rejects.toThrow(/400.*max_turns/);
  });
});
