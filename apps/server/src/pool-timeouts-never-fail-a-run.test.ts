import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

const RUNS = 200;
/** Longer than Prisma's maxWait for a connection (10 s, packages/db/src/prisma.ts). */
const HOLD_MS = 12_000;

describe('a worker whose database pool is far smaller than its concurrency', () => {
  const servers: TestServer[] = [];
  afterAll(async () => {
    for (const s of servers.reverse()) await s.stop();
  });

  it(`completes ${RUNS} echo runs on 2 connections while the database makes them wait, failing none`, async () => {
    const queueName = `pool-${Date.now()}`;
    // One attempt: a write the database turned away would fail the run outright (before: 35 of 200).
    const env = { QUEUE_NAME: queueName, EXECUTION_ATTEMPTS: '1' };
    const api = await startTestServer({ backend: 'redis', role: 'api', env });
    servers.push(api);
    const ids: string[] = [];
    const submit = async (i: number) => {
      const res = await fetch(`${api.url}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          project: 'pool',
          title: `run ${i}`,
          prompt: `run ${i}`,
          agent_type: 'echo',
          context: { echo: { steps: 3, delay_ms: 20 } },
        }),
      });
      expect(res.status).toBe(201);
      ids.push((await readJson(res)).latest_execution.id);
    };
    // Queued before any worker exists, so the worker starts with all its slots taken at once.
    for (let i = 0; i < RUNS; i += 20) {
      await Promise.all(Array.from({ length: Math.min(20, RUNS - i) }, (_, j) => submit(i + j)));
    }
    const byState = async () => {
      const rows = await api.prisma.execution.groupBy({
        by: ['state'],
        where: { id: { in: ids } },
        _count: true,
      });
      return Object.fromEntries(rows.map((r) => [r.state, r._count]));
    };

    const started = Date.now();
    const worker = await startTestServer({
      backend: 'redis',
      role: 'worker',
      shareDatabaseWith: api,
      // The reconciler comes round often, so a run whose job crashed would be failed within the test.
      env: {
        ...env,
        WORKER_CONCURRENCY: '50',
        DATABASE_POOL_SIZE: '2',
        RECONCILE_INTERVAL_S: '2',
        LOG_LEVEL: 'warn',
      },
    });
    servers.push(worker);
    // Something slow holds the audit chain's head (every transition's last write) for longer than a
    // transaction may wait for a connection: the worker's transitions pile up on its two
    // connections, the others wait past Prisma's maxWait (P2028), as a pool too small for the load does.
    await waitFor(async () => ((await byState()).COMPLETED ?? 0) >= 10, 60_000, 100);
    await api.prisma.$transaction(
      async (tx) => {
        await tx.$queryRaw`SELECT seq FROM audit_chain_head WHERE id = 1 FOR UPDATE`;
        await sleep(HOLD_MS);
      },
      { timeout: HOLD_MS + 10_000 },
    );

    const final = await waitFor(
      async () => {
        const counts = await byState();
        return (counts.COMPLETED ?? 0) + (counts.FAILED ?? 0) + (counts.CANCELLED ?? 0) === RUNS && counts;
      },
      150_000,
      500,
    );
    console.info(`[pool] ${RUNS} runs on 2 connections in ${Date.now() - started} ms:`, final);
    const failures = await api.prisma.execution.findMany({
      where: { id: { in: ids }, state: 'FAILED' },
      select: { error: true },
      take: 3,
    });
    expect(failures).toEqual([]);
    expect(final).toEqual({ COMPLETED: RUNS });
    // The database did turn the runs' writes away, and they waited instead of using up the run's one
    // attempt: a move waits in place, and a run turned away before it moved (its admission) is put
    // back for a few seconds. Which of the two the hold catches depends on timing.
    expect(worker.logs()).toMatch(/the database is busy or away: the (transition waits|run is tried again)/);
    expect(worker.logs()).not.toContain('execution handler crashed');
    expect(await api.prisma.execution.count({ where: { id: { in: ids }, attempts: { not: 1 } } })).toBe(0);
  }, 240_000);
});
