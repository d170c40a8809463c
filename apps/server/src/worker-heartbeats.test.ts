import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

// The compose layout: the api process reports the heartbeats of a separate worker process.
describe('worker heartbeats on the queue stats', () => {
  let api: TestServer;
  let worker: TestServer;
  let stopped = false;

  const stats = async (): Promise<Json> => {
    const res = await fetch(`${api.url}/api/queue/stats`);
    expect(res.status).toBe(200);
    return readJson(res);
  };

  beforeAll(async () => {
    const env = { WORKER_HEARTBEAT_S: '1', WORKER_CONCURRENCY: '3', QUEUE_NAME: `beat-${Date.now()}` };
    api = await startTestServer({ backend: 'postgres', env, role: 'api' });
    worker = await startTestServer({ backend: 'postgres', env, role: 'worker', shareDatabaseWith: api });
  });
  afterAll(async () => {
    if (!stopped) await worker?.stop();
    await api?.stop();
  });

  it('lists a started worker with its host, pid, role, concurrency and a fresh heartbeat', async () => {
    const body = await stats();
    expect(body.heartbeat_interval_s).toBe(1);
    expect(body.workers).toEqual([
      expect.objectContaining({
        host: hostname(),
        pid: process.pid,
        role: 'worker',
        queue: expect.stringMatching(/^beat-/),
        concurrency: 3,
        running: 0,
        stale: false,
      }),
    ]);
    const first = Date.parse(body.workers[0].last_seen_at);
    expect(Math.abs(Date.now() - first)).toBeLessThan(5000);
    // It keeps beating.
    await waitFor(async () => Date.parse((await stats()).workers[0]?.last_seen_at) > first, 5000);
  });

  it('reports how many executions the worker is running', async () => {
    const client = new CoderClawClient({ baseUrl: api.url, pollIntervalMs: 50 });
    await client.connect();
    const slow = await client.submit('echo', 'slow', { echo: { steps: 200, delay_ms: 100 } });
    await waitFor(async () => (await stats()).workers[0]?.running === 1, 5000);
    await client.cancel(String(slow.task_id));
    await waitFor(async () => (await stats()).workers[0]?.running === 0, 5000);
  });

  it('marks a worker not heard from for three intervals stale, and lists it after the live ones', async () => {
    const id = randomUUID();
    await api.prisma.worker.create({
      data: {
        id,
        host: 'gone-host',
        pid: 4242,
        role: 'worker',
        queueName: 'beat-old',
        concurrency: 4,
        running: 2,
        lastSeenAt: new Date(Date.now() - 10_000),
      },
    });
    const body = await stats();
    expect(body.workers.map((w: Json) => [w.host, w.stale])).toEqual([
      [hostname(), false],
      ['gone-host', true],
    ]);
    // Gone for more than an hour: the next heartbeat of a live worker removes it.
    await api.prisma.worker.update({ where: { id }, data: { lastSeenAt: new Date(Date.now() - 7_200_000) } });
    await waitFor(async () => !(await api.prisma.worker.findUnique({ where: { id } })), 5000);
  });

  it('drops a worker that stops gracefully from the list', async () => {
    await worker.stopServer();
    stopped = true;
    expect((await stats()).workers).toEqual([]);
    await worker.stop();
  });
});
