import { afterAll, describe, expect, it } from 'vitest';
import { startTestServer, submitEcho, type TestServer, waitFor } from './test-support/test-server.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };

async function submit(server: TestServer, project: string, title: string, echo: Record<string, unknown>) {
  return (await submitEcho(server, project, title, echo)).executionId;
}

async function decide(server: TestServer, executionId: string, verdict: 'approve' | 'deny') {
  const res = await fetch(`${server.url}/api/executions/${executionId}/${verdict}`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({ comment: verdict }),
  });
  expect(res.status).toBe(200);
}

async function countIn(server: TestServer, ids: string[], state: string) {
  return server.prisma.execution.count({ where: { id: { in: ids }, state: state as never } });
}

describe('waiting costs nothing: a run waiting for a decision gives its worker slot back', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers.reverse()) await s.stop();
  });

  it('300 runs wait at once on a worker of 4 slots while 20 others complete; approving them completes them all', async () => {
    const server = await startTestServer({ backend: 'redis', env: { WORKER_CONCURRENCY: '4' } });
    servers.push(server);
    const waiting: string[] = [];
    for (let i = 0; i < 300; i += 25) {
      waiting.push(
        ...(await Promise.all(
          Array.from({ length: 25 }, (_, j) =>
            submit(server, 'waits', `asks ${i + j}`, { steps: 2, delay_ms: 0, ask_approval: true }),
          ),
        )),
      );
    }
    await waitFor(async () => (await countIn(server, waiting, 'WAITING')) === 300, 120_000, 250);
    // Parked: no worker holds any of them.
    await waitFor(async () => (await server.deps.queue.counts?.())?.active === 0, 10_000, 100);
    expect((await server.deps.queue.counts?.())?.delayed).toBe(300);

    const others = await Promise.all(
      Array.from({ length: 20 }, (_, i) => submit(server, 'busy', `plain ${i}`, { steps: 2, delay_ms: 20 })),
    );
    await waitFor(async () => (await countIn(server, others, 'COMPLETED')) === 20, 60_000, 100);
    expect(await countIn(server, waiting, 'WAITING')).toBe(300);

    for (let i = 0; i < waiting.length; i += 25) {
      await Promise.all(waiting.slice(i, i + 25).map((id) => decide(server, id, 'approve')));
    }
    await waitFor(async () => (await countIn(server, waiting, 'COMPLETED')) === 300, 120_000, 250);
    // Each went on from its checkpoint: planned once, resumed once, never started over.
    const planned = await server.prisma.executionEvent.count({
      where: { executionId: { in: waiting }, type: 'state', data: { path: ['to'], equals: 'planning' } },
    });
    const resumed = await server.prisma.executionEvent.count({
      where: { executionId: { in: waiting }, type: 'resumed' },
    });
    expect(planned).toBe(300);
    expect(resumed).toBe(300);
    const leftover = await server.prisma.execution.count({
      where: { id: { in: waiting }, NOT: { checkpoint: { equals: null as never } } },
    });
    expect(leftover).toBe(0);
  }, 300_000);

  it('a parked run resumes on another worker, in its workspace, after the first worker stopped; deny and cancel reach parked runs too', async () => {
    const api = await startTestServer({ backend: 'postgres', role: 'api' });
    servers.push(api);
    const env = { QUEUE_NAME: api.deps.config.QUEUE_NAME, WORKSPACES_DIR: `/tmp/ccl-park-${Date.now()}` };
    const first = await startTestServer({ backend: 'postgres', role: 'worker', shareDatabaseWith: api, env });
    const approved = await submit(api, 'moves', 'approved later', {
      steps: 2,
      delay_ms: 0,
      ask_approval: true,
      files: { 'NOTE.md': 'written after the approval\n' },
    });
    const denied = await submit(api, 'moves', 'denied later', { steps: 2, delay_ms: 0, ask_approval: true });
    const cancelled = await submit(api, 'moves', 'cancelled', { steps: 2, delay_ms: 0, ask_approval: true });
    const all = [approved, denied, cancelled];
    await waitFor(async () => (await countIn(api, all, 'WAITING')) === 3, 30_000, 100);
    // Parked runs are nobody's: the worker stops at once, with nothing to requeue.
    const stopping = Date.now();
    await first.stopServer();
    expect(Date.now() - stopping).toBeLessThan(5_000);
    expect(
      await api.prisma.executionEvent.count({ where: { executionId: { in: all }, type: 'requeued' } }),
    ).toBe(0);

    const second = await startTestServer({
      backend: 'postgres',
      role: 'worker',
      shareDatabaseWith: api,
      env,
    });
    servers.push(second);
    await decide(api, approved, 'approve');
    await decide(api, denied, 'deny');
    const res = await fetch(`${api.url}/api/executions/${cancelled}/cancel`, { method: 'POST' });
    expect(res.status).toBe(200);

    await waitFor(async () => (await countIn(api, [approved], 'COMPLETED')) === 1, 30_000, 100);
    await waitFor(async () => (await countIn(api, [denied], 'FAILED')) === 1, 30_000, 100);
    await waitFor(async () => (await countIn(api, [cancelled], 'CANCELLED')) === 1, 30_000, 100);
    const done = await api.prisma.execution.findUniqueOrThrow({ where: { id: approved } });
    expect(done.attempts).toBe(1);
    expect((await api.prisma.execution.findUniqueOrThrow({ where: { id: denied } })).error).toBe(
      'approval denied: deny',
    );
    const types = (
      await api.prisma.executionEvent.findMany({ where: { executionId: approved }, orderBy: { seq: 'asc' } })
    ).map((e) => (e.type === 'state' ? `state:${(e.data as { to: string }).to}` : e.type));
    // One planning, one workspace, then resumed where it stopped; the second worker never started it over.
    expect(types.filter((t) => t === 'state:planning')).toHaveLength(1);
    expect(types.filter((t) => t === 'workspace')).toHaveLength(1);
    expect(types).toContain('resumed');
    expect(types.at(-1)).toBe('state:completed');
    const cancelEvent = await api.prisma.executionEvent.findFirstOrThrow({
      where: { executionId: cancelled, type: 'state', data: { path: ['to'], equals: 'cancelled' } },
    });
    expect(cancelEvent.data).toMatchObject({ reason: 'cancelled while waiting' });
  }, 120_000);
});
