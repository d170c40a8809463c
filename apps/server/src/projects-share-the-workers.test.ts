import { afterAll, describe, expect, it } from 'vitest';
import {
  BACKENDS,
  readJson,
  startTestServer,
  submitEcho,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

const JSON_HEADERS = { 'content-type': 'application/json' };

const submit = submitEcho;

describe.each(BACKENDS)('projects share the workers (%s queue)', (backend) => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers.reverse()) await s.stop();
  });

  it("a project that floods 200 tasks delays another project's single task by at most one run", async () => {
    const server = await startTestServer({ backend, env: { WORKER_CONCURRENCY: '2' } });
    servers.push(server);
    const flood: string[] = [];
    for (let i = 0; i < 200; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          submit(server, 'flood', `flood ${i + j}`, { steps: 1, delay_ms: 150 }),
        ),
      );
      flood.push(...batch.map((b) => b.executionId));
    }
    const single = await submit(server, 'single', 'just one', { steps: 1, delay_ms: 150 });
    // Its job is queued once the submit answers: a slot that frees between the row's insert and that
    // moment rightly takes the flood's next job, since this one is not in the queue yet.
    const queuedAt = new Date();
    const started = await waitFor(
      async () => {
        const row = await server.prisma.execution.findUniqueOrThrow({ where: { id: single.executionId } });
        return row.startedAt ? row : null;
      },
      30_000,
      20,
    );
    const stillQueued = await server.prisma.execution.count({
      where: { id: { in: flood }, state: 'PENDING' },
    });
    // In first-come order it would have waited for most of the flood (over 100 runs of ≥ 0.2 s on two slots).
    expect(stillQueued).toBeGreaterThan(100);
    const finishedRuns = await server.prisma.execution.findMany({
      where: { id: { in: flood }, state: 'COMPLETED' },
      select: { startedAt: true, finishedAt: true },
    });
    const runMs = Math.max(
      ...finishedRuns.map((r) => (r.finishedAt?.getTime() ?? 0) - (r.startedAt?.getTime() ?? 0)),
    );
    const waitedMs = (started.startedAt?.getTime() ?? 0) - started.createdAt.getTime();
    // Runs of the flood that started after the single task's job was queued and before it started:
    // at most one a slot, taken from the queue before that (their start is written after the pick).
    const overtook = await server.prisma.execution.count({
      where: { id: { in: flood }, startedAt: { gt: queuedAt, lt: started.startedAt ?? new Date() } },
    });
    expect(overtook).toBeLessThanOrEqual(2);
    // One run's time, plus the time to pick the job and start it.
    expect(waitedMs).toBeLessThan(runMs + 500);
  }, 120_000);

  it('a project over its concurrency limit keeps its runs PENDING with the reason; raising the limit starts them at once', async () => {
    const server = await startTestServer({
      backend,
      env: { WORKER_CONCURRENCY: '4', PROJECT_MAX_CONCURRENCY: '1' },
    });
    servers.push(server);
    const narrow = [];
    // Long enough (10 s) that the first is still running when the others are looked at on a busy machine.
    for (let i = 0; i < 4; i++)
      narrow.push(await submit(server, 'narrow', `narrow ${i}`, { steps: 100, delay_ms: 100 }));
    // Another project is not held by this one's limit.
    const other = await submit(server, 'other', 'other', { steps: 1, delay_ms: 10 });
    await waitFor(async () => {
      const row = await server.prisma.execution.findUniqueOrThrow({ where: { id: other.executionId } });
      return row.state === 'COMPLETED';
    });
    const ids = narrow.map((n) => n.executionId);
    const held = await waitFor(async () => {
      const rows = await server.prisma.execution.findMany({ where: { id: { in: ids } } });
      const pending = rows.filter((r) => r.state === 'PENDING' && r.heldReason);
      return pending.length === 3 ? pending : null;
    });
    expect(held[0]?.heldReason).toBe('project concurrency limit reached (1 of 1 running)');
    const busy = await server.prisma.execution.count({
      where: { id: { in: ids }, state: { in: ['PLANNING', 'RUNNING'] } },
    });
    expect(busy).toBe(1);
    // The board and the API say why.
    const heldTask = narrow.find((n) => n.executionId === held[0]?.id);
    const card = await readJson(await fetch(`${server.url}/api/tasks/${heldTask?.taskId}`));
    expect(card.latest_execution).toMatchObject({
      state: 'pending',
      held_reason: 'project concurrency limit reached (1 of 1 running)',
    });
    const execution = await readJson(await fetch(`${server.url}/api/executions/${held[0]?.id}`));
    expect(execution.held_reason).toBe('project concurrency limit reached (1 of 1 running)');

    // Raised: the held runs start now, not at their 30 s look.
    const raisedAt = Date.now();
    const { key } = await server.addUserWithKey('lead', 'ADMIN');
    const patch = await fetch(`${server.url}/api/projects/narrow`, {
      method: 'PATCH',
      headers: { ...JSON_HEADERS, authorization: `Bearer ${key}` },
      body: JSON.stringify({ settings: { max_concurrent: 4 } }),
    });
    expect(patch.status).toBe(200);
    await waitFor(
      async () =>
        (await server.prisma.execution.count({ where: { id: { in: ids }, state: 'PENDING' } })) === 0,
      10_000,
      50,
    );
    expect(Date.now() - raisedAt).toBeLessThan(5_000);
    const after = await server.prisma.execution.findMany({ where: { id: { in: ids } } });
    expect(after.every((r) => r.heldReason === null)).toBe(true);
    const heldEvents = await server.prisma.executionEvent.count({
      where: { executionId: { in: ids }, type: 'held' },
    });
    expect(heldEvents).toBe(3);
  }, 120_000);
});

describe("a card's priority orders its project's queued runs", () => {
  let server: TestServer;
  afterAll(async () => {
    await server?.stop();
  });

  it('an urgent card goes before the medium cards queued ahead of it', async () => {
    server = await startTestServer({ backend: 'redis', env: { WORKER_CONCURRENCY: '1' } });
    const queued = [];
    for (let i = 0; i < 8; i++)
      queued.push(await submit(server, 'line', `medium ${i}`, { steps: 1, delay_ms: 200 }));
    const urgent = (
      await submit(server, 'line', 'urgent', { steps: 1, delay_ms: 200 }, { priority: 'urgent' })
    ).executionId;
    const row = await waitFor(async () => {
      const r = await server.prisma.execution.findUniqueOrThrow({ where: { id: urgent } });
      return r.startedAt ? r : null;
    });
    const ids = queued.map((q) => q.executionId);
    const overtook = await server.prisma.execution.count({
      where: { id: { in: ids }, startedAt: { gt: row.createdAt, lt: row.startedAt ?? new Date() } },
    });
    const stillQueued = await server.prisma.execution.count({ where: { id: { in: ids }, state: 'PENDING' } });
    // At most the one the worker was taking as the urgent card came in; the rest of the line waits.
    expect(overtook).toBeLessThanOrEqual(1);
    expect(stillQueued).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
