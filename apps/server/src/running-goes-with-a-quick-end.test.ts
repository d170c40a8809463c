import { CHANNELS } from '@ccl/core';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

/**
 * A run's move to RUNNING waits up to 50 ms (EVENT_BATCH_MS) for the run's next move and goes with
 * it: a run that ends at once writes its RUNNING and its end in one statement, with one notice. The
 * run's history, its audit rows and what a live view of a longer run sees stay as they were.
 */
describe('a run that ends at once records RUNNING with its end', () => {
  let server: TestServer;
  let client: CoderClawClient;
  let listener: pg.Client;
  const notices: { executionId: string; seq: number; state: string }[] = [];

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 20 });
    await client.connect();
    listener = new pg.Client({ connectionString: server.databaseUrl });
    await listener.connect();
    listener.on('notification', (n) => notices.push(JSON.parse(n.payload ?? '{}')));
    await listener.query(`LISTEN ${CHANNELS.execution}`);
  });
  afterAll(async () => {
    await listener?.end();
    await server?.stop();
  });

  const finished = async (taskId: string) => {
    await waitFor(async () => {
      const state = (await client.queryTaskState(taskId))?.state;
      return state === 'completed' || state === 'failed';
    });
    return server.prisma.execution.findFirstOrThrow({ where: { taskId } });
  };
  const historyOf = async (executionId: string) => {
    const events = await server.prisma.executionEvent.findMany({
      where: { executionId },
      orderBy: { seq: 'asc' },
    });
    return {
      seqs: events.map((e) => e.seq),
      states: events.filter((e) => e.type === 'state').map((e) => e.data as { from: string; to: string }),
      types: events.map((e) => e.type),
    };
  };
  const auditedMoves = async (executionId: string) =>
    (
      await server.prisma.auditEvent.findMany({
        where: { resourceId: executionId, action: 'execution.transition' },
        orderBy: { seq: 'asc' },
      })
    ).map((a) => a.detail as { from: string; to: string });
  /**
   * The states the notices heard for the run went through, once its end's notice arrived (an event's
   * notice names the state the run is in, so repeats are folded).
   */
  const noticedStates = async (executionId: string, end: string) => {
    await waitFor(async () => notices.some((n) => n.executionId === executionId && n.state === end));
    return notices
      .filter((n) => n.executionId === executionId)
      .map((n) => n.state)
      .filter((state, i, all) => state !== all[i - 1]);
  };

  it('a run that ends at once: RUNNING and COMPLETED in one write, the history in order, no RUNNING notice', async () => {
    const { task_id } = await client.submit('echo', 'quick', { echo: { steps: 1, delay_ms: 0 } });
    const execution = await finished(String(task_id));
    expect(execution.state).toBe('COMPLETED');
    const history = await historyOf(execution.id);
    expect(history.seqs).toEqual(history.seqs.map((_, i) => i + 1));
    expect(history.seqs.at(-1)).toBe(execution.eventSeq);
    expect(history.states).toEqual([
      { from: 'pending', to: 'planning' },
      { from: 'planning', to: 'running' },
      { from: 'running', to: 'completed' },
    ]);
    // What the runner noted before it said it runs comes before RUNNING, what it did after, after.
    const running = history.types.indexOf('state', history.types.indexOf('state') + 1);
    expect(history.types.slice(running + 1)).toContain('progress');
    expect(history.types.slice(0, running)).toContain('message');
    // The end is an operation from RUNNING, as it always was.
    expect(await auditedMoves(execution.id)).toEqual([
      { from: 'pending', to: 'planning' },
      { from: 'running', to: 'completed' },
    ]);
    expect(await noticedStates(execution.id, 'COMPLETED')).toEqual(['PENDING', 'PLANNING', 'COMPLETED']);
    expect(execution.startedAt).not.toBeNull();
  });

  it('a run that fails at once goes from RUNNING to FAILED the same way', async () => {
    const { task_id } = await client.submit('echo', 'quick fail', {
      echo: { steps: 0, delay_ms: 0, fail: 'echo: no' },
    });
    const execution = await finished(String(task_id));
    expect(execution.state).toBe('FAILED');
    expect(execution.error).toBe('echo: no');
    expect((await historyOf(execution.id)).states.slice(1)).toEqual([
      { from: 'planning', to: 'running' },
      { from: 'running', to: 'failed' },
    ]);
    expect((await auditedMoves(execution.id)).at(-1)).toEqual(
      expect.objectContaining({ from: 'running', to: 'failed' }),
    );
  });

  it('a longer run shows RUNNING while it runs, within the window, with its notice', async () => {
    const { task_id } = await client.submit('echo', 'slow', { echo: { steps: 1, delay_ms: 600 } });
    const taskId = String(task_id);
    const execution = await waitFor(
      async () => {
        const row = await server.prisma.execution.findFirst({ where: { taskId } });
        return row?.state === 'RUNNING' ? row : null;
      },
      10_000,
      10,
    );
    // Heard running long before its one step is done.
    await waitFor(async () => notices.some((n) => n.executionId === execution.id && n.state === 'RUNNING'));
    expect((await server.prisma.execution.findUniqueOrThrow({ where: { id: execution.id } })).state).toBe(
      'RUNNING',
    );
    const done = await finished(taskId);
    expect(done.state).toBe('COMPLETED');
    const history = await historyOf(execution.id);
    expect(history.seqs).toEqual(history.seqs.map((_, i) => i + 1));
    expect(history.states.map((s) => s.to)).toEqual(['planning', 'running', 'completed']);
    expect(await noticedStates(execution.id, 'COMPLETED')).toEqual([
      'PENDING',
      'PLANNING',
      'RUNNING',
      'COMPLETED',
    ]);
  });
});
