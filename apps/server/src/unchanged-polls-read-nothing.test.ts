import { approveDevice, CHANNELS, ReadCache, revokeApiKey, revokeDevice } from '@ccl/core';
import type { PrismaClient } from '@ccl/db';
import { createNotifier, type Notifier } from '@ccl/queue';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';
import { operatorCtx } from './cli-support.ts';
import { EventHub } from './event-hub.ts';
import { createLogger } from './log.ts';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

/** What both adapter generations send on every request (shared/coderclaw-contract.md). */
const ADAPTER = { 'content-type': 'application/json', accept: 'application/json' };
const POLLS = 50;
const FAILED_POLLS = 20;

/**
 * The issue: CoderClaw's credential-less state poll read the submitting session's execution row on
 * every request (1k req/s against 14k with a session id), and the 2026.3 adapter's API key was looked
 * up on every poll. Now what a poll resolves is kept in the read cache until a change notice: polling
 * an unchanged task or execution reads nothing, and a revocation still ends the poll at once.
 */
describe('polling an unchanged task reads nothing from the database', () => {
  let server: TestServer;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let notifier: Notifier;
  let queries = 0;
  let taskId = '';
  let kim = { key: '', keyId: '' };
  let run = 0;
  const paired = { base: '', taskId: '' };

  beforeAll(async () => {
    server = await startTestServer({
      backend: 'postgres',
      env: { RATE_LIMIT_FAILED_POLLS_PER_MINUTE: String(FAILED_POLLS) },
    });
    const client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
    taskId = String((await client.submit('echo', 'poll me', {})).task_id);
    for await (const _ of client.stream(taskId));

    kim = await server.addUserWithKey('kim', 'DEVELOPER');
    // A paired device's adapter: its base URL carries the device's secret (`/k/<secret>`).
    const { secret } = await approveDevice(server.deps, operatorCtx(), { userId: 'kim', deviceId: 'laptop' });
    paired.base = `/k/${secret}`;
    const device = new CoderClawClient({
      baseUrl: `${server.url}${paired.base}`,
      userId: 'kim',
      deviceId: 'laptop',
      pollIntervalMs: 50,
    });
    await device.connect();
    paired.taskId = String((await device.submit('echo', 'poll me', {})).task_id);
    for await (const _ of device.stream(paired.taskId));
    const keyed = { ...ADAPTER, authorization: `Bearer ${kim.key}` };
    const post = async (path: string, body: unknown) =>
      readJson(
        await fetch(`${server.url}${path}`, { method: 'POST', headers: keyed, body: JSON.stringify(body) }),
      );
    const card = await post('/api/tasks', { title: 'polled by 2026.3', agent_type: 'echo' });
    run = (await post('/api/runtime/executions', { taskId: card.number, payload: 'poll me' })).id;
    await waitFor(async () => {
      const res = await fetch(`${server.url}/api/runtime/executions/${run}`, { headers: keyed });
      return (await readJson(res)).status === 'completed';
    });

    // An API process of its own over the same database, whose every query is counted. The TTLs are
    // long so that only change notices, not the clock, drop what it keeps.
    const counted = server.deps.prisma.$extends({
      query: {
        $allOperations: ({ args, query }) => {
          queries++;
          return query(args);
        },
      },
    }) as unknown as PrismaClient;
    const cache = new ReadCache({ taskTtlMs: 60_000, sessionTtlMs: 60_000 });
    notifier = createNotifier(server.databaseUrl);
    await notifier.subscribe(CHANNELS.execution, (payload) => {
      const change = JSON.parse(payload) as { taskId: string; executionId: string };
      cache.taskChanged(change.taskId, change.executionId);
    });
    await notifier.subscribe(CHANNELS.sessions, () => cache.forgetAllSessions());
    app = await buildApp({
      deps: { ...server.deps, prisma: counted, cache },
      hub: new EventHub(),
      queuePing: async () => {},
      logger: createLogger(server.deps.config),
    });
  });
  afterAll(async () => {
    await app?.close();
    await notifier?.close();
    await server?.stop();
  });

  /** Sends `POLLS` polls; answers the statuses and how many queries they made. */
  async function poll(url: string, headers: Record<string, string>, remoteAddress = '127.0.0.1') {
    const before = queries;
    const statuses = new Set<number>();
    for (let i = 0; i < POLLS; i++) {
      statuses.add((await app.inject({ method: 'GET', url, headers, remoteAddress })).statusCode);
    }
    return { statuses: [...statuses], queries: queries - before };
  }

  it('the old adapter without session id, where the task id stands for its session: one read of each, then none', async () => {
    const polled = await poll(`/api/runtime/tasks/${taskId}/state`, ADAPTER, '10.0.0.5');
    expect(polled.statuses).toEqual([200]);
    // The task's submitting session, that session, the task's state: each read once.
    expect(polled.queries).toBeLessThanOrEqual(4);
    expect((await poll(`/api/runtime/tasks/${taskId}/state`, ADAPTER, '10.0.0.5')).queries).toBe(0);
  });

  it('the old adapter on a local install (loopback, no credential): the local developer is read once', async () => {
    const polled = await poll(`/api/runtime/tasks/${taskId}/state`, ADAPTER);
    expect(polled.statuses).toEqual([200]);
    expect(polled.queries).toBeLessThanOrEqual(2);
    expect((await poll(`/api/runtime/tasks/${taskId}/state`, ADAPTER)).queries).toBe(0);
  });

  it('the old adapter of a paired device (the secret in its base URL): the secret is verified once', async () => {
    const url = `${paired.base}/api/runtime/tasks/${paired.taskId}/state`;
    const polled = await poll(url, ADAPTER, '10.0.0.6');
    expect(polled.statuses).toEqual([200]);
    // The secret (and at most one last_seen_at write), the task's state.
    expect(polled.queries).toBeLessThanOrEqual(3);
    expect((await poll(url, ADAPTER, '10.0.0.6')).queries).toBe(0);
  });

  it('the 2026.3 adapter with its API key: the key is verified once, then kept', async () => {
    const headers = { ...ADAPTER, authorization: `Bearer ${kim.key}`, 'x-claw-id': '1' };
    const polled = await poll(`/api/runtime/executions/${run}`, headers);
    expect(polled.statuses).toEqual([200]);
    // The key (and at most one last_used_at write), the execution.
    expect(polled.queries).toBeLessThanOrEqual(3);
    expect((await poll(`/api/runtime/executions/${run}`, headers)).queries).toBe(0);
  });

  it('a revocation by another process ends the credential-less poll, the kept API key and device secret within a moment', async () => {
    const state = () =>
      app.inject({
        method: 'GET',
        url: `/api/runtime/tasks/${taskId}/state`,
        headers: ADAPTER,
        remoteAddress: '10.0.0.5',
      });
    const execution = () =>
      app.inject({
        method: 'GET',
        url: `/api/runtime/executions/${run}`,
        headers: { ...ADAPTER, authorization: `Bearer ${kim.key}` },
      });
    const device = () =>
      app.inject({
        method: 'GET',
        url: `${paired.base}/api/runtime/tasks/${paired.taskId}/state`,
        headers: ADAPTER,
        remoteAddress: '10.0.0.6',
      });
    expect((await state()).statusCode).toBe(200);
    expect((await execution()).statusCode).toBe(200);
    expect((await device()).statusCode).toBe(200);

    // As the CLI would: the database alone, and the notice its transaction sends.
    const { cache: _cache, ...elsewhere } = server.deps;
    await revokeApiKey(elsewhere, operatorCtx(), kim.keyId);
    await revokeDevice(elsewhere, operatorCtx(), { userId: 'kim', deviceId: 'laptop' });
    await server.prisma.$transaction(async (tx) => {
      await tx.runtimeSession.updateMany({ data: { revokedAt: new Date() } });
      await tx.$executeRaw`SELECT pg_notify(${CHANNELS.sessions}, '')`;
    });
    await waitFor(async () => (await state()).statusCode === 404, 2000, 20);
    await waitFor(async () => (await execution()).statusCode === 401, 2000, 20);
    await waitFor(async () => (await device()).statusCode === 401, 2000, 20);
  });

  it('an unknown task id is never kept: each poll of one is looked up, until its address is limited', async () => {
    const unknown = '00000000-0000-4000-8000-000000000001';
    const polled = await poll(`/api/runtime/tasks/${unknown}/state`, ADAPTER, '10.0.0.9');
    expect(polled.statuses).toEqual([404, 429]);
    expect(polled.queries).toBeGreaterThanOrEqual(FAILED_POLLS);
  });
});
