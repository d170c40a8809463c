import { type JobQueue, reconcileExecutions } from '@ccl/core';
import type { ExecutionState } from '@ccl/db';
import {
  createExecutionQueue,
  type ExecutionHandler,
  type ExecutionJobState,
  PermanentFailure,
} from '@ccl/queue';
import { createEchoRun, testRedisUrl } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

// An api process only, so that no worker's own reconciler runs beside the rounds under test.
describe('the reconciler', () => {
  const queueName = `reconcile-${Date.now()}`;
  let api: TestServer;
  const servers: TestServer[] = [];

  beforeAll(async () => {
    api = await startTestServer({ backend: 'redis', role: 'api', env: { QUEUE_NAME: queueName } });
    servers.push(api);
  });
  afterAll(async () => {
    for (const s of servers.reverse()) await s.stop();
  });

  /** A row as a crash leaves it: not terminal, untouched for a minute, `attempts` as the run recorded. */
  async function orphan(state: ExecutionState, attempts = state === 'PENDING' ? 0 : 1) {
    const exec = await createEchoRun(api.prisma, {
      project: 'orphans',
      userId: 'local',
      title: 'orphan',
      data: {
        prompt: `orphan ${state}`,
        state,
        attempts,
        context: { echo: { steps: 1, delay_ms: 1 } },
        ...(state === 'PENDING' ? {} : { startedAt: new Date() }),
      },
    });
    await api.prisma
      .$executeRaw`UPDATE executions SET updated_at = now() - interval '1 minute' WHERE id = ${exec.id}::uuid`;
    return exec.id;
  }

  /** Runs the jobs of `ids` through a worker of this queue with `handler` until each is in `state`. */
  async function throughScratchWorker(ids: string[], handler: ExecutionHandler, state: ExecutionJobState) {
    const queue = createExecutionQueue({
      databaseUrl: api.databaseUrl,
      redisUrl: testRedisUrl(),
      queueName,
      attempts: api.deps.config.EXECUTION_ATTEMPTS,
    });
    try {
      for (const id of ids) await queue.enqueue(id);
      queue.createWorker({ concurrency: 2, handler });
      for (const id of ids) await waitFor(async () => (await queue.state(id)) === state);
    } finally {
      await queue.close();
    }
  }

  const requeuedEvents = (executionId: string) =>
    api.prisma.executionEvent.count({ where: { executionId, type: 'requeued' } });

  it('runs one round at a time: a round that starts while another is under way skips, and each lost run is queued once', async () => {
    const lost = [await orphan('PENDING'), await orphan('RUNNING'), await orphan('WAITING')];
    // The first round stops at its first look at the queue until the second round has had its turn.
    let letFirstGoOn = () => {};
    const held = new Promise<void>((resolve) => {
      letFirstGoOn = resolve;
    });
    const queue = api.deps.queue;
    // Finished jobs are trimmed by the round that holds the lock, after its repairs, and by no other.
    const trims: string[] = [];
    const slowQueue: JobQueue = {
      ...queue,
      enqueue: (id, opts) => queue.enqueue(id, opts),
      state: async (id) => {
        await held;
        return queue.state(id);
      },
      trimFinished: async () => {
        trims.push('first');
        return 0;
      },
    };
    const first = reconcileExecutions({ ...api.deps, queue: slowQueue }, { graceMs: 0 });
    await waitFor(async () => {
      const rows = await api.prisma.$queryRaw<Array<{ n: number }>>`
        SELECT count(*)::int AS n FROM pg_locks
        WHERE locktype = 'advisory' AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
      return (rows[0]?.n ?? 0) > 0;
    });
    const countingQueue: JobQueue = {
      ...queue,
      trimFinished: async () => {
        trims.push('second');
        return 0;
      },
    };
    const second = await reconcileExecutions({ ...api.deps, queue: countingQueue }, { graceMs: 0 });
    letFirstGoOn();
    expect(second).toEqual({ requeued: [], failed: [], woken: [], skipped: true });
    const done = await first;
    expect(done.skipped).toBe(false);
    expect(trims).toEqual(['first']);
    expect(done.requeued).toEqual(expect.arrayContaining(lost));

    // Two more rounds at once, now without any help: still one requeued event each.
    await Promise.all([
      reconcileExecutions(api.deps, { graceMs: 0 }),
      reconcileExecutions(api.deps, { graceMs: 0 }),
    ]);
    for (const id of lost) {
      expect(await requeuedEvents(id)).toBe(1);
      expect(await api.deps.queue.state(id)).toBe('waiting');
    }
  });

  it('looks at every queued run in turn: a lost run behind a page of healthy ones is found, a lost running one at once', async () => {
    // A round that reads every candidate leaves no page to go on from.
    await reconcileExecutions(api.deps, { graceMs: 0 });
    // Six queued runs whose jobs wait, unchanged longer than anything else here: each round's first
    // page when pages were read from the oldest.
    const healthy: string[] = [];
    for (let i = 0; i < 6; i++) {
      const id = await orphan('PENDING');
      await api.deps.queue.enqueue(id);
      healthy.push(id);
    }
    await api.prisma.$executeRaw`
      UPDATE executions SET updated_at = now() - interval '10 minutes' WHERE id = ANY(${healthy}::uuid[])`;
    const lostQueued = await orphan('PENDING');
    const lostRunning = await orphan('RUNNING');

    const first = await reconcileExecutions(api.deps, { graceMs: 0, limit: 3 });
    expect(first.requeued).toEqual([lostRunning]);
    const second = await reconcileExecutions(api.deps, { graceMs: 0, limit: 3 });
    expect(second.requeued).toEqual([]);
    const third = await reconcileExecutions(api.deps, { graceMs: 0, limit: 3 });
    expect(third.requeued).toEqual([lostQueued]);
    for (const id of healthy) expect(await requeuedEvents(id)).toBe(0);
    expect(await api.deps.queue.state(lostQueued)).toBe('waiting');
    // A short page: the rounds after this test's start from the oldest again.
    await reconcileExecutions(api.deps, { graceMs: 0 });
    await reconcileExecutions(api.deps, { graceMs: 0 });
  });

  it('wakes the parked job of a run that no longer waits (decided while its worker died between parking and looking again)', async () => {
    const decided = await orphan('RUNNING', 1);
    const stillWaiting = await orphan('WAITING', 1);
    // Parked for an hour, and the worker that would have looked again is gone.
    await throughScratchWorker(
      [decided, stillWaiting],
      async () => ({ park: { until: Date.now() + 3_600_000, stillWaiting: async () => true } }),
      'delayed',
    );
    const round = await reconcileExecutions(api.deps, { graceMs: 0 });
    expect(round.woken).toContain(decided);
    expect(round.woken).not.toContain(stillWaiting);
    expect(await api.deps.queue.state(decided)).toBe('waiting');
    // A run that still waits for its decision stays parked.
    expect(await api.deps.queue.state(stillWaiting)).toBe('delayed');
  });

  it('queues again a run whose job the queue gave up on before its attempts were used; fails one that crashed on its last', async () => {
    // Jobs that failed for good: the worker below fails every job it takes without retry, as BullMQ
    // does to a job whose workers died more often than maxStalledCount, or a crash on the last attempt.
    const lostToStalls = await orphan('RUNNING', 1);
    const crashedLast = await orphan('RUNNING', api.deps.config.EXECUTION_ATTEMPTS);
    await throughScratchWorker(
      [lostToStalls, crashedLast],
      async () => {
        throw new PermanentFailure('gone');
      },
      'failed',
    );
    await api.prisma.$executeRaw`
      UPDATE executions SET updated_at = now() - interval '1 minute'
      WHERE id IN (${lostToStalls}::uuid, ${crashedLast}::uuid)`;

    const round = await reconcileExecutions(api.deps, { graceMs: 0 });
    expect(round.requeued).toContain(lostToStalls);
    expect(round.failed).toEqual([crashedLast]);
    const failed = await api.prisma.execution.findUniqueOrThrow({ where: { id: crashedLast } });
    expect(failed.state).toBe('FAILED');
    expect(failed.error).toBe("the run crashed on its last attempt (3 of 3); the worker's log has the error");

    // A worker picks the lost one up and finishes it.
    const worker = await startTestServer({
      backend: 'redis',
      role: 'worker',
      shareDatabaseWith: api,
      env: { QUEUE_NAME: queueName },
    });
    servers.push(worker);
    await waitFor(
      async () =>
        (await api.prisma.execution.findUniqueOrThrow({ where: { id: lostToStalls } })).state === 'COMPLETED',
      20_000,
    );
  });
});
