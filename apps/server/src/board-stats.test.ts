import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

describe('agent and queue stats for the board', () => {
  let server: TestServer;
  let client: CoderClawClient;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
  });
  afterAll(async () => server?.stop());

  const finished = (taskId: string) =>
    waitFor(async () => {
      const s = await client.queryTaskState(taskId);
      return s && ['completed', 'failed', 'cancelled'].includes(String(s.state)) ? s : null;
    });

  it('counts runs per agent with their success rate and average cost', async () => {
    const ok = await client.submit('echo', 'works', { echo: { steps: 1, delay_ms: 1 } });
    const bad = await client.submit('echo', 'fails', { echo: { steps: 1, delay_ms: 1, fail: true } });
    await finished(String(ok.task_id));
    await finished(String(bad.task_id));
    const res = await fetch(`${server.url}/api/agents/stats?days=7`);
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body.days).toBe(7);
    const echo = body.agents.find((a: Json) => a.agent_type === 'echo');
    expect(echo).toMatchObject({ runs: 2, completed: 1, failed: 1, cancelled: 0, success_rate: 0.5 });
    expect(echo.avg_cost_usd).toBe(0);
    expect(Date.parse(echo.last_run_at)).toBeGreaterThan(Date.now() - 60_000);
  });

  it('shows job counts, executions per state and active runs with their last event', async () => {
    const slow = await client.submit('echo', 'slow', { echo: { steps: 100, delay_ms: 200 } });
    await waitFor(async () => (await client.queryTaskState(String(slow.task_id)))?.state === 'running');
    const res = await fetch(`${server.url}/api/queue/stats`);
    expect(res.status).toBe(200);
    const body = await readJson(res);
    expect(body.queues).toHaveLength(1);
    expect(body.queues[0]).toMatchObject({ backend: 'postgres', active: 1 });
    expect(body.executions.running).toBe(1);
    expect(body.active_runs).toEqual([
      expect.objectContaining({ execution_id: slow.execution_uuid, agent_type: 'echo', state: 'running' }),
    ]);
    expect(Date.parse(body.active_runs[0].last_event_at)).toBeGreaterThan(Date.now() - 10_000);
    await client.cancel(String(slow.task_id));
    await finished(String(slow.task_id));
  });

  it('refuses a bad look-back with 400 naming the field', async () => {
    const res = await fetch(`${server.url}/api/agents/stats?days=0`);
    expect(res.status).toBe(400);
    expect((await readJson(res)).message).toMatch(/days/);
  });
});
