import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

type Line = Record<string, unknown>;

describe('log lines of a run', () => {
  let server: TestServer;
  let key: string;
  beforeAll(async () => {
    server = await startTestServer({
      backend: 'postgres',
      env: { LOG_LEVEL: 'info', EXECUTION_ATTEMPTS: '2' },
    });
    key = (await server.addUserWithKey('ana', 'DEVELOPER')).key;
  });
  afterAll(async () => server?.stop());

  const submit = async (title: string, echo: Record<string, unknown>) => {
    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
      body: JSON.stringify({ project: 'logs', title, prompt: 'x', agent_type: 'echo', context: { echo } }),
    });
    expect(res.status).toBe(201);
    return {
      id: (await readJson(res)).latest_execution.id as string,
      reqId: res.headers.get('x-request-id'),
    };
  };
  const settled = (id: string, state: string) =>
    waitFor(
      async () => (await server.prisma.execution.findUnique({ where: { id } }))?.state === state,
      20_000,
    );

  it("carries the execution id and its submitter on every line written while it runs, the worker's and core's", async () => {
    // One run fails once and is retried (the queue's word), one fails for good (core's word).
    const retried = await submit('retried', { steps: 1, delay_ms: 5, fail_attempts: 1 });
    const failed = await submit('failed', { steps: 1, delay_ms: 5, fail_attempts: 5 });
    await settled(retried.id, 'COMPLETED');
    await settled(failed.id, 'FAILED');
    // The last line of a run is written just after its state is.
    const raw = await waitFor(async () => {
      const text = server.logs();
      const done = text.split('\n').filter((l) => l.includes('"execution handler done"'));
      return done.length >= 2 ? text : null;
    });

    const rawLines = raw.split('\n').filter(Boolean);
    const lines: Line[] = rawLines.map((l) => JSON.parse(l));
    const first = lines.findIndex((l) => l.msg === 'execution started');
    const last = lines.findLastIndex((l) => l.msg === 'execution handler done');
    expect(first).toBeGreaterThanOrEqual(0);
    const during = lines.slice(first, last + 1);
    // Every line of that stretch belongs to a request (and names it) or to a run (and names it and its user).
    for (const line of during) {
      if (line.reqId) continue;
      expect(line, String(line.msg)).toMatchObject({ userId: 'ana' });
      expect([retried.id, failed.id], String(line.msg)).toContain(line.executionId);
    }
    const messages = (id: string) => during.filter((l) => l.executionId === id).map((l) => l.msg);
    expect(messages(retried.id)).toEqual([
      'execution started',
      'job failed',
      'execution started',
      'execution handler done',
    ]);
    // 'runner failed' is core's own line, written through the run's logger.
    expect(messages(failed.id)).toEqual(
      expect.arrayContaining(['execution started', 'job failed', 'runner failed', 'execution handler done']),
    );
    // A key is written once even where the line names it too (some log stores refuse duplicates).
    for (const l of rawLines) expect(l.match(/"executionId":/g)?.length ?? 0).toBeLessThanOrEqual(1);

    // Request lines carry the request id the answer named.
    const submits = lines.filter(
      (l) => l.msg === 'request completed' && (l.req as { url?: string }).url === '/api/tasks',
    );
    expect(submits.map((l) => l.reqId)).toEqual([retried.reqId, failed.reqId]);
  });
});
