import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { createExecutionQueue } from './execution-queue.ts';
import { PermanentFailure } from './permanent-failure.ts';
import { deferred, waitFor } from './test-support/async-helpers.ts';
import {
  createScratchDatabase,
  deleteRedisKeys,
  type ScratchDatabase,
  TEST_REDIS_URL,
  uniqueName,
} from './test-support/services.ts';
import type { ExecutionJobContext, ExecutionQueue, ExecutionQueueOptions, QueueBackend } from './types.ts';

const prefix = uniqueName('clawlink_test');
let db: ScratchDatabase;

beforeAll(async () => {
  db = await createScratchDatabase();
});

afterAll(async () => {
  await db.drop();
  await deleteRedisKeys(prefix);
});

const backends: QueueBackend[] = ['redis', 'postgres'];

describe.each(backends)('ExecutionQueue on %s', { timeout: 30_000 }, (backend) => {
  const opened: ExecutionQueue[] = [];
  let queues = 0;

  function openQueue(overrides: Partial<ExecutionQueueOptions> = {}): ExecutionQueue {
    const queue = createExecutionQueue({
      databaseUrl: db.url,
      redisUrl: backend === 'redis' ? TEST_REDIS_URL : undefined,
      queueName: `executions-${++queues}`,
      attempts: 3,
      backoffMs: 20,
      prefix,
      ...overrides,
    });
    opened.push(queue);
    return queue;
  }

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((queue) => queue.close()));
  });

  test('reports its backend, answers ping and counts', async () => {
    const queue = openQueue();
    expect(queue.backend).toBe(backend);
    await queue.ping();
    expect(await queue.counts()).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0, completed: 0 });
    expect(await queue.state('exec-none')).toBe('absent');
  });

  test('hands the execution id and attempt 1 to the handler', async () => {
    const queue = openQueue();
    const seen = deferred<{ id: string; ctx: ExecutionJobContext }>();
    queue.createWorker({ concurrency: 1, handler: async (id, ctx) => seen.resolve({ id, ctx }) });
    await queue.enqueue('exec-first');
    const { id, ctx } = await seen.promise;
    expect(id).toBe('exec-first');
    expect(ctx.attempt).toBe(1);
    expect(ctx.isFinalAttempt).toBe(false);
    expect(ctx.signal.aborted).toBe(false);
    await waitFor('completion', async () => (await queue.state('exec-first')) === 'completed');
  });

  test('enqueuing the same id twice makes one job that runs once', async () => {
    const queue = openQueue();
    await queue.enqueue('exec-twice');
    await queue.enqueue('exec-twice');
    expect((await queue.counts()).waiting).toBe(1);
    let runs = 0;
    queue.createWorker({ concurrency: 2, handler: async () => void runs++ });
    await waitFor('completion', async () => (await queue.state('exec-twice')) === 'completed');
    expect(runs).toBe(1);
  });

  test('enqueuing a finished execution again runs it again', async () => {
    const queue = openQueue();
    let runs = 0;
    queue.createWorker({ concurrency: 1, handler: async () => void runs++ });
    await queue.enqueue('exec-again');
    await waitFor('first run', async () => runs === 1 && (await queue.state('exec-again')) === 'completed');
    await queue.enqueue('exec-again');
    await waitFor('second run', async () => runs === 2 && (await queue.state('exec-again')) === 'completed');
  });

  test('remove() takes back a waiting job, which then never runs', async () => {
    const queue = openQueue();
    await queue.enqueue('exec-removed');
    expect(await queue.state('exec-removed')).toBe('waiting');
    expect(await queue.remove('exec-removed')).toBe(true);
    expect(await queue.state('exec-removed')).toBe('absent');
    expect(await queue.remove('exec-removed')).toBe(false);

    const ran: string[] = [];
    queue.createWorker({ concurrency: 1, handler: async (id) => void ran.push(id) });
    // A job enqueued after the removed one has run once the worker went past where it was.
    await queue.enqueue('exec-marker');
    await waitFor('marker', async () => (await queue.state('exec-marker')) === 'completed');
    expect(ran).toEqual(['exec-marker']);
  });

  test('remove() of an active job returns false and leaves it running', async () => {
    const queue = openQueue();
    const started = deferred();
    const release = deferred();
    queue.createWorker({
      concurrency: 1,
      handler: async () => {
        started.resolve();
        await release.promise;
      },
    });
    await queue.enqueue('exec-active');
    await started.promise;
    expect(await queue.state('exec-active')).toBe('active');
    expect(await queue.remove('exec-active')).toBe(false);
    release.resolve();
    await waitFor('completion', async () => (await queue.state('exec-active')) === 'completed');
  });

  test('cancel() aborts the running handler within 100 ms and the job is not retried', async () => {
    const queue = openQueue();
    const started = deferred();
    const aborted = deferred<number>();
    let runs = 0;
    const failures: Array<{ id: string; willRetry: boolean }> = [];
    const worker = queue.createWorker({
      concurrency: 1,
      handler: (_id, { signal }) => {
        runs++;
        started.resolve();
        return new Promise((_, reject) => {
          signal.addEventListener('abort', () => {
            aborted.resolve(Date.now());
            reject(new Error('cancelled'));
          });
        });
      },
      onFailed: (id, _err, willRetry) => failures.push({ id, willRetry }),
    });
    await queue.enqueue('exec-cancel');
    await started.promise;
    expect(worker.running()).toEqual(['exec-cancel']);
    expect(worker.cancel('exec-unknown')).toBe(false);

    const cancelledAt = Date.now();
    expect(worker.cancel('exec-cancel')).toBe(true);
    expect((await aborted.promise) - cancelledAt).toBeLessThan(100);

    // onFailed runs once BullMQ stored the outcome, so the state is final by then.
    await waitFor('onFailed', () => failures.length > 0);
    expect(failures).toEqual([{ id: 'exec-cancel', willRetry: false }]);
    expect(await queue.state('exec-cancel')).toBe('failed');
    expect(runs).toBe(1);
    expect(worker.running()).toEqual([]);
    expect(worker.cancel('exec-cancel')).toBe(false);
  });

  test('a transient error is retried with the next attempt', async () => {
    const queue = openQueue({ attempts: 2 });
    const attempts: Array<Pick<ExecutionJobContext, 'attempt' | 'isFinalAttempt'>> = [];
    const failures: Array<{ message: string; willRetry: boolean }> = [];
    queue.createWorker({
      concurrency: 1,
      handler: async (_id, { attempt, isFinalAttempt }) => {
        attempts.push({ attempt, isFinalAttempt });
        if (attempt === 1) throw new Error('flaky upstream');
      },
      onFailed: (_id, err, willRetry) => failures.push({ message: err.message, willRetry }),
    });
    await queue.enqueue('exec-flaky');
    await waitFor('completion', async () => (await queue.state('exec-flaky')) === 'completed');
    expect(attempts).toEqual([
      { attempt: 1, isFinalAttempt: false },
      { attempt: 2, isFinalAttempt: true },
    ]);
    expect(failures).toEqual([{ message: 'flaky upstream', willRetry: true }]);
  });

  test('the job fails once every attempt failed', async () => {
    const queue = openQueue({ attempts: 3 });
    const failures: boolean[] = [];
    queue.createWorker({
      concurrency: 1,
      handler: async () => {
        throw new Error('always down');
      },
      onFailed: (_id, _err, willRetry) => failures.push(willRetry),
    });
    await queue.enqueue('exec-down');
    await waitFor('the last onFailed', () => failures.length === 3);
    expect(failures).toEqual([true, true, false]);
    expect(await queue.state('exec-down')).toBe('failed');
    expect((await queue.counts()).failed).toBe(1);
  });

  test('a PermanentFailure is not retried', async () => {
    const queue = openQueue({ attempts: 3 });
    let runs = 0;
    const failures: Array<{ err: Error; willRetry: boolean }> = [];
    queue.createWorker({
      concurrency: 1,
      handler: async () => {
        runs++;
        throw new PermanentFailure('bad prompt');
      },
      onFailed: (_id, err, willRetry) => failures.push({ err, willRetry }),
    });
    await queue.enqueue('exec-permanent');
    await waitFor('onFailed', () => failures.length > 0);
    expect(await queue.state('exec-permanent')).toBe('failed');
    expect(runs).toBe(1);
    expect(failures).toHaveLength(1);
    expect(failures[0]?.err).toBeInstanceOf(PermanentFailure);
    expect(failures[0]?.err.message).toBe('bad prompt');
    expect(failures[0]?.willRetry).toBe(false);
  });

  test('worker close() waits for the running handler to finish', async () => {
    const queue = openQueue();
    const started = deferred();
    let finished = false;
    const worker = queue.createWorker({
      concurrency: 1,
      handler: async () => {
        started.resolve();
        await new Promise((resolve) => setTimeout(resolve, 300));
        finished = true;
      },
    });
    await queue.enqueue('exec-closing');
    await started.promise;
    await worker.close();
    expect(finished).toBe(true);
    expect(await queue.state('exec-closing')).toBe('completed');
  });

  test('100 jobs with concurrency 4 each run exactly once', async () => {
    const queue = openQueue();
    const ids = Array.from({ length: 100 }, (_, i) => `exec-bulk-${i}`);
    await Promise.all(ids.map((id) => queue.enqueue(id)));
    const runs = new Map<string, number>();
    let inFlight = 0;
    let maxInFlight = 0;
    const worker = queue.createWorker({
      concurrency: 4,
      handler: async (id) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        runs.set(id, (runs.get(id) ?? 0) + 1);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
      },
    });
    await waitFor('all completed', async () => (await queue.counts()).completed === 100, 20_000);
    await worker.close();
    expect([...runs.keys()].sort()).toEqual([...ids].sort());
    expect([...runs.values()].every((n) => n === 1)).toBe(true);
    expect(maxInFlight).toBeLessThanOrEqual(4);
    expect(maxInFlight).toBeGreaterThan(1);
  });

  test('finishes 1500 jobs at concurrency 8 without an error, and trims the finished ones when asked', async () => {
    // Past 1000 finished jobs the Postgres backend's count retention deadlocked two workers
    // finishing at once (queue-settings.ts): each deadlock an error and a second of standstill.
    const errors: Error[] = [];
    const queue = openQueue({ onError: (err) => errors.push(err), finishedJobsKeepMs: 0 });
    const ids = Array.from({ length: 1500 }, (_, i) => `exec-many-${i}`);
    for (let i = 0; i < ids.length; i += 100)
      await Promise.all(ids.slice(i, i + 100).map((id) => queue.enqueue(id)));
    let runs = 0;
    const worker = queue.createWorker({
      concurrency: 8,
      handler: async () => {
        runs++;
      },
    });
    const done = async () => (backend === 'redis' ? runs >= 1500 : (await queue.counts()).completed === 1500);
    await waitFor('all completed', done, 25_000);
    await worker.close();
    expect(errors.map((err) => err.message)).toEqual([]);
    expect(runs).toBe(1500);
    if (backend === 'redis') {
      // Redis dropped all but the newest 1000 as they finished.
      expect((await queue.counts()).completed).toBe(1000);
      expect(await queue.trimFinished()).toBe(0);
    } else {
      expect(await queue.trimFinished()).toBe(1500);
      expect((await queue.counts()).completed).toBe(0);
    }
  }, 60_000);

  test('a parked job frees its slot, keeps its attempt, and runs again when woken', async () => {
    const queue = openQueue();
    const calls: number[] = [];
    const worker = queue.createWorker({
      concurrency: 1,
      handler: async (_id, ctx) => {
        calls.push(ctx.attempt);
        if (calls.length === 1)
          return { park: { until: Date.now() + 60_000, stillWaiting: async () => true } };
        return undefined;
      },
    });
    await queue.enqueue('parked-1');
    await waitFor('parked', async () => (await queue.state('parked-1')) === 'delayed');
    // The only slot is free: another job runs meanwhile.
    await queue.enqueue('other-1');
    await waitFor('other done', async () => (await queue.state('other-1')) === 'completed');
    expect(await queue.wake('other-1')).toBe(false);
    expect(await queue.wake('parked-1')).toBe(true);
    await waitFor('parked done', async () => (await queue.state('parked-1')) === 'completed');
    await worker.close();
    expect(calls).toEqual([1, 1, 1]);
  });

  test('a park whose wait already ended runs again at once', async () => {
    const queue = openQueue();
    let calls = 0;
    const worker = queue.createWorker({
      concurrency: 1,
      handler: async () => {
        calls += 1;
        if (calls === 1) return { park: { until: Date.now() + 60_000, stillWaiting: async () => false } };
        return undefined;
      },
    });
    await queue.enqueue('raced-1');
    await waitFor('done', async () => (await queue.state('raced-1')) === 'completed');
    await worker.close();
    expect(calls).toBe(2);
  });

  test('retryLaterOn errors put the job back without using an attempt', async () => {
    const queue = openQueue({ attempts: 1 });
    const attempts: number[] = [];
    const failed: string[] = [];
    const worker = queue.createWorker({
      concurrency: 1,
      retryLaterOn: (err) => (err as { code?: string }).code === 'P2024',
      handler: async (_id, ctx) => {
        attempts.push(ctx.attempt);
        if (attempts.length === 1) throw Object.assign(new Error('pool timeout'), { code: 'P2024' });
      },
      onFailed: (id) => failed.push(id),
    });
    await queue.enqueue('pool-1');
    await waitFor('delayed', async () => (await queue.state('pool-1')) === 'delayed');
    await queue.wake('pool-1');
    await waitFor('done', async () => (await queue.state('pool-1')) === 'completed');
    await worker.close();
    expect(attempts).toEqual([1, 1]);
    expect(failed).toEqual([]);
  });

  test('jobs run in priority order, lower first', async () => {
    const queue = openQueue();
    await Promise.all([
      queue.enqueue('prio-c', { priority: 3 }),
      queue.enqueue('prio-a', { priority: 1 }),
      queue.enqueue('prio-b', { priority: 2 }),
    ]);
    const order: string[] = [];
    const worker = queue.createWorker({
      concurrency: 1,
      handler: async (id) => {
        order.push(id);
      },
    });
    await waitFor('all done', () => order.length === 3);
    await worker.close();
    expect(order).toEqual(['prio-a', 'prio-b', 'prio-c']);
  });

  test('ping() throws when the backend is unreachable', async () => {
    const queue = openQueue({
      databaseUrl: 'postgres://postgres@127.0.0.1:1/nowhere',
      redisUrl: backend === 'redis' ? 'redis://127.0.0.1:1' : undefined,
      onError: () => {},
    });
    await expect(queue.ping()).rejects.toThrow();
  });
});
