import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { BACKENDS, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

describe.each(BACKENDS)('execution lifecycle (%s queue)', (backend) => {
  let server: TestServer;
  let client: CoderClawClient;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
  });
  afterAll(async () => server?.stop());

  const stateOf = async (taskId: string) => (await client.queryTaskState(taskId))?.state;

  it('cancel stops a running echo execution within 1 s, and only after the runner stopped', async () => {
    const { task_id } = await client.submit('echo', 'long job', { echo: { steps: 1000, delay_ms: 100 } });
    const taskId = String(task_id);
    await waitFor(async () => (await stateOf(taskId)) === 'running');
    const execution = await server.prisma.execution.findFirstOrThrow({ where: { taskId } });
    const progressBefore = await server.prisma.executionEvent.count({
      where: { executionId: execution.id, type: 'progress' },
    });
    expect(progressBefore).toBeGreaterThanOrEqual(0);

    const started = Date.now();
    expect(await client.cancel(taskId)).toBe(true);
    await waitFor(async () => (await stateOf(taskId)) === 'cancelled', 1000, 20);
    expect(Date.now() - started).toBeLessThan(1000);

    // The runner really stopped: no progress events are written after the cancelled state.
    const events = await server.prisma.executionEvent.findMany({
      where: { executionId: execution.id },
      orderBy: { seq: 'asc' },
    });
    const cancelledAt = events.findIndex(
      (e) => e.type === 'state' && (e.data as { to?: string }).to === 'cancelled',
    );
    expect(cancelledAt).toBe(events.length - 1);
    await new Promise((r) => setTimeout(r, 300));
    expect(await server.prisma.executionEvent.count({ where: { executionId: execution.id } })).toBe(
      events.length,
    );
    expect(await client.cancel(taskId)).toBe(false);
  });

  it('a cancel whose notice never came stops the run at its next event: the row says so', async () => {
    const { task_id } = await client.submit('echo', 'long job', { echo: { steps: 1000, delay_ms: 100 } });
    const taskId = String(task_id);
    await waitFor(async () => (await stateOf(taskId)) === 'running');
    // Set on the row alone, with no change notice: as when the worker missed the notification.
    await server.prisma.execution.updateMany({ where: { taskId }, data: { cancelRequestedAt: new Date() } });
    const final = await waitFor(
      async () => {
        const state = await stateOf(taskId);
        return state === 'running' ? null : state;
      },
      2000,
      20,
    );
    expect(final).toBe('cancelled');
  });

  it('moves PENDING → PLANNING → RUNNING → COMPLETED with an event and an audit row per transition', async () => {
    const { task_id } = await client.submit('echo', 'steps', { echo: { steps: 2, delay_ms: 20 } });
    await waitFor(async () => (await stateOf(String(task_id))) === 'completed');
    const execution = await server.prisma.execution.findFirstOrThrow({ where: { taskId: String(task_id) } });
    const transitions = await server.prisma.executionEvent.findMany({
      where: { executionId: execution.id, type: 'state' },
      orderBy: { seq: 'asc' },
    });
    expect(transitions.map((t) => (t.data as { to: string }).to)).toEqual([
      'planning',
      'running',
      'completed',
    ]);
    // Its start and its end are operations; the agent's own phase change (planning → running) is
    // the run's event only.
    const audits = await server.prisma.auditEvent.findMany({
      where: { resourceId: execution.id, action: 'execution.transition' },
      orderBy: { seq: 'asc' },
    });
    expect(audits.map((a) => a.detail)).toEqual([
      { from: 'pending', to: 'planning' },
      { from: 'running', to: 'completed' },
    ]);
    const seqs = (
      await server.prisma.executionEvent.findMany({
        where: { executionId: execution.id },
        orderBy: { seq: 'asc' },
      })
    ).map((e) => e.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it('goes WAITING for an approval and resumes to COMPLETED when approved', async () => {
    const { task_id } = await client.submit('echo', 'needs a yes', {
      echo: { steps: 2, delay_ms: 10, ask_approval: true },
    });
    const taskId = String(task_id);
    const waiting = await waitFor(async () => {
      const s = await client.queryTaskState(taskId);
      return s?.state === 'waiting' ? s : null;
    });
    expect((waiting.metadata as Record<string, unknown>).pending_approval).toMatchObject({ kind: 'command' });
    const res = await fetch(`${server.url}/api/executions/${waiting.execution_uuid}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'go' }),
    });
    expect(res.status).toBe(200);
    await waitFor(async () => (await stateOf(taskId)) === 'completed');
  });

  it('a denied approval ends FAILED with the reason', async () => {
    const { task_id, execution_uuid } = await client.submit('echo', 'needs a yes', {
      echo: { steps: 2, delay_ms: 10, ask_approval: true },
    });
    await waitFor(async () => (await stateOf(String(task_id))) === 'waiting');
    const res = await fetch(`${server.url}/api/executions/${execution_uuid}/deny`, { method: 'POST' });
    expect(res.status).toBe(200);
    const final = await waitFor(async () => {
      const s = await client.queryTaskState(String(task_id));
      return s?.state === 'failed' ? s : null;
    });
    expect(final.error).toBe('approval denied');
    const again = await fetch(`${server.url}/api/executions/${execution_uuid}/approve`, { method: 'POST' });
    expect(again.status).toBe(409);
  });

  it('fails a WAITING execution nobody answers within APPROVAL_TIMEOUT_S', async () => {
    const impatient = await startTestServer({ backend, env: { APPROVAL_TIMEOUT_S: '1' } });
    try {
      const c = new CoderClawClient({ baseUrl: impatient.url, pollIntervalMs: 50 });
      await c.connect();
      const { task_id } = await c.submit('echo', 'ask and wait', {
        echo: { steps: 2, delay_ms: 1, ask_approval: true },
      });
      const final = await waitFor(async () => {
        const s = await c.queryTaskState(String(task_id));
        return s?.state === 'failed' ? s : null;
      }, 5000);
      expect(final.error).toBe('no decision on the approval request within 1 s (APPROVAL_TIMEOUT_S)');
    } finally {
      await impatient.stop();
    }
  });

  it('fails with the runner message, and retries transient errors', async () => {
    const failed = await client.submit('echo', 'x', {
      echo: { steps: 1, delay_ms: 1, fail: 'the build broke' },
    });
    const f = await waitFor(async () => {
      const s = await client.queryTaskState(String(failed.task_id));
      return s?.state === 'failed' ? s : null;
    });
    expect(f.error).toBe('the build broke');

    const flaky = await client.submit('echo', 'y', { echo: { steps: 1, delay_ms: 1, fail_attempts: 1 } });
    const ok = await waitFor(async () => {
      const s = await client.queryTaskState(String(flaky.task_id));
      return s?.state === 'completed' ? s : null;
    }, 15_000);
    expect((ok.metadata as Record<string, unknown>).attempts).toBe(2);
  });

  it('loses and duplicates nothing with 100 concurrent submissions', async () => {
    const submitted = await Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        client.submit('echo', `job ${i}`, { echo: { steps: 1, delay_ms: 1 }, project: 'load' }),
      ),
    );
    const ids = submitted.map((s) => String(s.task_id));
    expect(new Set(ids).size).toBe(100);
    await waitFor(
      async () =>
        (await server.prisma.execution.count({ where: { taskId: { in: ids }, state: 'COMPLETED' } })) === 100,
      30_000,
      200,
    );
    const executions = await server.prisma.execution.findMany({ where: { taskId: { in: ids } } });
    expect(executions).toHaveLength(100);
    for (const e of executions) {
      expect(e.result).toBe(`echo: ${e.prompt}`);
      const starts = await server.prisma.executionEvent.count({
        where: { executionId: e.id, type: 'state', data: { path: ['to'], equals: 'planning' } },
      });
      expect(starts).toBe(1);
    }
  });

  it('cancels a PENDING execution by removing its job', async () => {
    // A worker-less API server: the job stays queued, so cancel must remove it.
    const apiOnly = await startTestServer({ backend, role: 'api' });
    try {
      const c = new CoderClawClient({ baseUrl: apiOnly.url });
      await c.connect();
      const { task_id } = await c.submit('echo', 'never runs', {});
      expect(await c.cancel(String(task_id))).toBe(true);
      expect((await c.queryTaskState(String(task_id)))?.state).toBe('cancelled');
    } finally {
      await apiOnly.stop();
    }
  });
});
