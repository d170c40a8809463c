import { reconcileExecutions } from '@ccl/core';
import { createEchoRun } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { BACKENDS, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

describe.each(BACKENDS)('worker resilience (%s queue)', (backend) => {
  let server: TestServer;
  let client: CoderClawClient;

  beforeAll(async () => {
    server = await startTestServer({ backend, env: { EXECUTION_TIMEOUT_S: '1' } });
    client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
  });
  afterAll(async () => server?.stop());

  async function orphan(state: 'PENDING' | 'RUNNING') {
    // A row whose job never reached the queue (or vanished with it), as a crash would leave it.
    const exec = await createEchoRun(server.prisma, {
      project: 'orphans',
      userId: 'local',
      title: 'orphan',
      data: {
        prompt: `orphan ${state}`,
        state,
        context: { echo: { steps: 1, delay_ms: 1 } },
        ...(state === 'RUNNING' ? { startedAt: new Date() } : {}),
      },
    });
    await server.prisma
      .$executeRaw`UPDATE executions SET updated_at = now() - interval '1 minute' WHERE id = ${exec.id}::uuid`;
    return exec;
  }

  it('re-queues executions whose job was lost, and they finish', async () => {
    const pending = await orphan('PENDING');
    const running = await orphan('RUNNING');
    const result = await reconcileExecutions(server.deps, { graceMs: 30_000 });
    expect(result.requeued).toEqual(expect.arrayContaining([pending.id, running.id]));
    for (const id of [pending.id, running.id]) {
      await waitFor(
        async () =>
          (await server.prisma.execution.findUniqueOrThrow({ where: { id } })).state === 'COMPLETED',
      );
    }
    const events = await server.prisma.executionEvent.findMany({
      where: { executionId: running.id },
      orderBy: { seq: 'asc' },
    });
    expect(events.map((e) => e.type)).toEqual(expect.arrayContaining(['requeued', 'retry']));
    // A second pass finds nothing left to repair.
    const again = await reconcileExecutions(server.deps, { graceMs: 0 });
    expect(again.requeued).not.toContain(pending.id);
  });

  it('fails an execution that outlives EXECUTION_TIMEOUT_S, saying so', async () => {
    const { task_id } = await client.submit('echo', 'slow', { echo: { steps: 100, delay_ms: 100 } });
    const final = await waitFor(async () => {
      const s = await client.queryTaskState(String(task_id));
      return s && ['failed', 'completed', 'cancelled'].includes(String(s.state)) ? s : null;
    }, 10_000);
    expect(final.state).toBe('failed');
    expect(final.error).toBe('timed out after 1 s (EXECUTION_TIMEOUT_S)');
  });
});

describe('graceful shutdown', () => {
  it('lets a running execution finish before the worker stops', async () => {
    const server = await startTestServer({ backend: 'redis' });
    try {
      const client = new CoderClawClient({ baseUrl: server.url });
      await client.connect();
      const { task_id } = await client.submit('echo', 'finish me', { echo: { steps: 5, delay_ms: 200 } });
      await waitFor(async () => (await client.queryTaskState(String(task_id)))?.state === 'running');
      await server.stopServer();
      const execution = await server.prisma.execution.findFirstOrThrow({
        where: { taskId: String(task_id) },
      });
      expect(execution.state).toBe('COMPLETED');
      expect(execution.result).toBe('echo: finish me');
    } finally {
      await server.stop();
    }
  });
});
