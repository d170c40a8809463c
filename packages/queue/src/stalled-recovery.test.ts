import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createExecutionQueue } from './execution-queue.ts';
import { deferred, waitFor } from './test-support/async-helpers.ts';
import {
  createScratchDatabase,
  deleteRedisKeys,
  type ScratchDatabase,
  TEST_REDIS_URL,
  uniqueName,
} from './test-support/services.ts';
import type { ExecutionQueueOptions, QueueBackend } from './types.ts';

/** Short locks so a dead worker's job comes back in seconds rather than ~30 s with the defaults. */
const LOCK_DURATION_MS = 5_000;
const STALLED_INTERVAL_MS = 2_000;

const prefix = uniqueName('clawlink_test');
const deadWorkerScript = fileURLToPath(new URL('./test-support/dead-worker.ts', import.meta.url));
let db: ScratchDatabase;

beforeAll(async () => {
  db = await createScratchDatabase();
});

afterAll(async () => {
  await db.drop();
  await deleteRedisKeys(prefix);
});

const backends: QueueBackend[] = ['redis', 'postgres'];

// Concurrent: each case mostly waits for a lock to expire.
describe('a dead worker', { timeout: 30_000 }, () => {
  test.concurrent.each(backends)(
    'on %s: its job is picked up again by another worker after the stalled check',
    async (backend) => {
      const options: ExecutionQueueOptions = {
        databaseUrl: db.url,
        redisUrl: backend === 'redis' ? TEST_REDIS_URL : undefined,
        queueName: 'executions-stalled',
        attempts: 3,
        prefix,
        lockDurationMs: LOCK_DURATION_MS,
        stalledIntervalMs: STALLED_INTERVAL_MS,
      };
      const queue = createExecutionQueue(options);
      let child: ChildProcess | undefined;
      try {
        await queue.enqueue('exec-orphaned');
        // tsx runs the TypeScript child the way the product's worker role runs.
        child = fork(deadWorkerScript, [JSON.stringify(options)], { execArgv: ['--import', 'tsx'] });
        const [message] = await once(child, 'message');
        expect(message).toEqual({ started: 'exec-orphaned' });
        expect(await queue.state('exec-orphaned')).toBe('active');

        child.kill('SIGKILL');
        await once(child, 'exit');
        const killedAt = Date.now();

        const recovered = deferred<{ executionId: string; attempt: number; at: number }>();
        queue.createWorker({
          concurrency: 1,
          handler: async (executionId, { attempt }) =>
            recovered.resolve({ executionId, attempt, at: Date.now() }),
        });
        const { executionId, attempt, at } = await recovered.promise;
        const recoveryMs = at - killedAt;
        console.info(`[${backend}] job of a SIGKILLed worker ran again after ${recoveryMs} ms`);

        expect(executionId).toBe('exec-orphaned');
        // A stall is not a failed attempt.
        expect(attempt).toBe(1);
        expect(recoveryMs).toBeLessThan(LOCK_DURATION_MS + 2 * STALLED_INTERVAL_MS + 2_000);
      } finally {
        child?.kill('SIGKILL');
        await queue.close();
      }
    },
  );
});

const KILLS = 3;

// BullMQ's default maxStalledCount (1) failed a job whose worker died twice, attempts left or not.
describe('a job whose worker is killed again and again', { timeout: 60_000 }, () => {
  test.concurrent.each(backends)(
    `on %s: comes back after each of ${KILLS} kills, and its first attempt is still the one that runs`,
    async (backend) => {
      const options: ExecutionQueueOptions = {
        databaseUrl: db.url,
        redisUrl: backend === 'redis' ? TEST_REDIS_URL : undefined,
        queueName: 'executions-killed-often',
        attempts: 2,
        prefix,
        lockDurationMs: 2_000,
        stalledIntervalMs: 1_000,
      };
      const queue = createExecutionQueue(options);
      const children: ChildProcess[] = [];
      try {
        await queue.enqueue('exec-killed-often');
        for (let kill = 1; kill <= KILLS; kill++) {
          // Each new worker's own stalled check brings the job back from the one killed before.
          const child = fork(deadWorkerScript, [JSON.stringify(options)], { execArgv: ['--import', 'tsx'] });
          children.push(child);
          const [message] = await once(child, 'message');
          expect(message).toEqual({ started: 'exec-killed-often' });
          child.kill('SIGKILL');
          await once(child, 'exit');
        }
        const recovered = deferred<{ executionId: string; attempt: number }>();
        queue.createWorker({
          concurrency: 1,
          handler: async (executionId, { attempt }) => recovered.resolve({ executionId, attempt }),
        });
        expect(await recovered.promise).toEqual({ executionId: 'exec-killed-often', attempt: 1 });
        await waitFor(
          'the job to complete',
          async () => (await queue.state('exec-killed-often')) === 'completed',
        );
      } finally {
        for (const child of children) child.kill('SIGKILL');
        await queue.close();
      }
    },
  );
});
