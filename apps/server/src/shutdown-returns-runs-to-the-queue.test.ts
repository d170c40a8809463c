import { afterAll, describe, expect, it } from 'vitest';
import { BACKENDS, readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

describe.each(BACKENDS)('a shutdown with runs still going (%s queue)', (backend) => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers.reverse()) await s.stop();
  });

  it('waits SHUTDOWN_GRACE_S, then puts running runs back on the queue as they are (waiting runs are parked already); the next worker finishes them', async () => {
    const first = await startTestServer({ backend, env: { SHUTDOWN_GRACE_S: '1' } });
    servers.push(first);
    const json = { 'content-type': 'application/json' };
    const post = async (title: string, echo: Record<string, unknown>) =>
      readJson(
        await fetch(`${first.url}/api/tasks`, {
          method: 'POST',
          headers: json,
          body: JSON.stringify({
            project: 'grace',
            title,
            prompt: title,
            agent_type: 'echo',
            context: { echo },
          }),
        }),
      );
    const long = await post('long', { steps: 40, delay_ms: 100 });
    const asks = await post('asks', { steps: 2, delay_ms: 10, ask_approval: true });
    const state = async (card: { latest_execution: { id: string } }) =>
      (await first.prisma.execution.findUniqueOrThrow({ where: { id: card.latest_execution.id } })).state;
    await waitFor(async () => (await state(long)) === 'RUNNING');
    await waitFor(async () => (await state(asks)) === 'WAITING');

    const stopping = Date.now();
    await first.stopServer();
    const took = Date.now() - stopping;
    // One second of grace, not the 4 s the long run still needed, nor the approval's hour.
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(4_000);
    // Left as they were: neither cancelled nor failed, and no attempt used up.
    expect(await state(long)).toBe('RUNNING');
    expect(await state(asks)).toBe('WAITING');
    // The running one went back to the queue; the waiting one was parked already (no worker held it).
    const requeued = await first.prisma.executionEvent.findMany({
      where: { executionId: { in: [long.latest_execution.id, asks.latest_execution.id] }, type: 'requeued' },
    });
    expect(requeued.map((e) => e.executionId)).toEqual([long.latest_execution.id]);

    // The next worker of the deployment takes them from the queue.
    const next = await startTestServer({
      backend,
      role: 'worker',
      shareDatabaseWith: first,
      env: { QUEUE_NAME: first.deps.config.QUEUE_NAME, SHUTDOWN_GRACE_S: '1' },
    });
    servers.push(next);
    await waitFor(async () => (await state(long)) === 'COMPLETED', 30_000, 100);
    const finished = await first.prisma.execution.findUniqueOrThrow({
      where: { id: long.latest_execution.id },
    });
    expect(finished.attempts).toBe(1);
    // It went on from its last finished step on the new worker: planned once, no step done twice.
    const longEvents = await first.prisma.executionEvent.findMany({
      where: { executionId: long.latest_execution.id },
      orderBy: { seq: 'asc' },
    });
    const steps = longEvents
      .filter((e) => e.type === 'progress')
      .map((e) => (e.data as { step: number }).step);
    expect(steps).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(longEvents.filter((e) => e.type === 'message')).toHaveLength(1);
    expect(longEvents.filter((e) => e.type === 'resumed').map((e) => e.data)).toEqual([
      { attempt: 1, from: 'checkpoint' },
    ]);
    // The waiting one still waits for its decision, which any worker can take up.
    await waitFor(
      async () => {
        const row = await first.prisma.execution.findUniqueOrThrow({
          where: { id: asks.latest_execution.id },
        });
        return row.state === 'WAITING' && row.pendingApproval !== null;
      },
      30_000,
      100,
    );
  }, 90_000);
});
