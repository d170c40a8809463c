import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from '@ccl/db';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './test-support/run-cli.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const clean of cleanups.reverse()) await clean().catch(() => undefined);
});

const json = { 'content-type': 'application/json' };
const submit = (server: TestServer, title: string) =>
  fetch(`${server.url}/api/tasks`, {
    method: 'POST',
    headers: json,
    body: JSON.stringify({
      project: 'outage',
      title,
      prompt: title,
      agent_type: 'echo',
      context: { echo: { steps: 1, delay_ms: 10 } },
    }),
  });

/** Once the dependency is back: a submission is taken again and its run completes; /readyz is 200. */
async function servesAgain(server: TestServer) {
  const after = await waitFor(
    async () => {
      const res = await submit(server, 'after');
      return res.status === 201 ? readJson(res) : null;
    },
    30_000,
    250,
  );
  await waitFor(
    async () => {
      const row = await server.prisma.execution.findUnique({ where: { id: after.latest_execution.id } });
      return row?.state === 'COMPLETED';
    },
    30_000,
    100,
  );
  expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
}

describe('Redis (the team queue) gone for a while', () => {
  let redis: ChildProcess | null = null;
  const startRedis = async (port: number) => {
    redis = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: 'ignore',
      },
    );
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const socket = connect(port, '127.0.0.1');
          socket.once('connect', () => {
            socket.destroy();
            resolve(true);
          });
          socket.once('error', () => resolve(false));
        }),
      10_000,
      50,
    );
  };
  const stopRedis = async () => {
    const child = redis;
    redis = null;
    if (!child) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  };

  it('answers submissions 503 with Retry-After at once, writes nothing, and recovers without a restart', async () => {
    const port = await freePort();
    await startRedis(port);
    cleanups.push(stopRedis);
    const server = await startTestServer({
      backend: 'redis',
      env: { REDIS_URL: `redis://127.0.0.1:${port}` },
    });
    cleanups.push(() => server.stop());
    expect((await submit(server, 'before')).status).toBe(201);

    await stopRedis();
    const started = Date.now();
    const refused = await submit(server, 'during');
    expect(refused.status).toBe(503);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await readJson(refused)).toEqual({
      error: 'unavailable',
      message: 'the queue is unreachable; try again in a few seconds',
    });
    // Nothing half-written: no card for the refused submission.
    expect(await server.prisma.task.count({ where: { title: 'during' } })).toBe(0);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await readJson(ready)).toMatchObject({
      database: 'ok',
      queue: expect.stringMatching(/^unreachable/),
    });

    await startRedis(port);
    await servesAgain(server);
  }, 90_000);
});

describe('PostgreSQL gone for a while', () => {
  it('answers 503 with Retry-After while it is down, and serves again once it is back', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'ccl-outage-pg-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const preferredPort = await freePort();
    const log = () => {};
    let pg: EmbeddedPostgresHandle = await startEmbeddedPostgres({ dataDir, preferredPort, log });
    cleanups.push(() => pg.stop());
    const url = pg.url;
    // The server on this PostgreSQL (the test's own, which it can stop), not on a test database.
    const server = await startTestServer({
      backend: 'postgres',
      shareDatabaseWith: { databaseUrl: url } as TestServer,
    });
    cleanups.push(() => server.stop());
    expect((await submit(server, 'before')).status).toBe(201);

    await pg.stop();
    const refused = await submit(server, 'during');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect((await readJson(refused)).error).toBe('unavailable');
    const list = await fetch(`${server.url}/api/tasks`);
    expect(list.status).toBe(503);
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(503);
    expect((await readJson(ready)).database).toMatch(/^unreachable/);

    pg = await startEmbeddedPostgres({ dataDir, preferredPort, log });
    expect(pg.url).toBe(url);
    await servesAgain(server);
  }, 120_000);
});
