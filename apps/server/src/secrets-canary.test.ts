import { randomBytes } from 'node:crypto';
import { type FakeAnthropic, startFakeAnthropic } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

// Unique, so any appearance anywhere is this secret and nothing else.
const CANARY = `sk-ant-canary-${randomBytes(12).toString('hex')}`;
const WRONG = `sk-ant-wrong-${randomBytes(12).toString('hex')}`;

/** Everything a client could read while a task runs: each SSE byte is kept. */
async function recordStream(url: string, signal: AbortSignal, sink: { text: string }) {
  try {
    const res = await fetch(url, { signal, headers: { accept: 'text/event-stream' } });
    const reader = res.body?.getReader();
    if (!reader) return;
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      sink.text += decoder.decode(value, { stream: true });
    }
  } catch {
    // aborted at the end of the test
  }
}

describe('a project secret is used by its runs and appears nowhere else', () => {
  let fake: FakeAnthropic;
  let server: TestServer;
  let admin: Record<string, string>;
  const seen: string[] = [];
  const see = async (res: Response) => {
    const text = await res.text();
    seen.push(text);
    return text;
  };

  beforeAll(async () => {
    fake = await startFakeAnthropic({ apiKey: CANARY });
    server = await startTestServer({
      backend: 'postgres',
      env: {
        // No server-wide key: Claude is usable only by a project that brings one.
        ANTHROPIC_BASE_URL: fake.url,
        SECRETS_KEY: randomBytes(32).toString('base64'),
        SECRETS_KEY_ID: 'test-k1',
        LOG_LEVEL: 'debug',
      },
    });
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    admin = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    await see(
      await fetch(`${server.url}/api/projects`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ slug: 'acme' }),
      }),
    );
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
  });

  it('stores it write-only, runs Claude with it, and leaks it into no response, event, log, row or job', async () => {
    const client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
    await expect(client.submit('claude', 'hi', { project: 'acme' })).rejects.toThrow(/ANTHROPIC_API_KEY/);

    const put = await fetch(`${server.url}/api/projects/acme/secrets/ANTHROPIC_API_KEY`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ value: CANARY }),
    });
    expect(put.status).toBe(200);
    expect(JSON.parse(await see(put))).toMatchObject({ name: 'ANTHROPIC_API_KEY', key_id: 'test-k1' });
    const listed = await fetch(`${server.url}/api/projects/acme/secrets`, { headers: admin });
    expect(JSON.parse(await see(listed))).toEqual([expect.objectContaining({ name: 'ANTHROPIC_API_KEY' })]);
    // Without secret:manage even the names are refused.
    expect((await fetch(`${server.url}/api/projects/acme/secrets`)).status).toBe(403);

    const streams = new AbortController();
    const board = { text: '' };
    void recordStream(`${server.url}/api/board/events`, streams.signal, board);

    fake.script([
      { text: '1. Say hello', usage: { input: 10, output: 5 } },
      { toolCalls: [{ name: 'finish', input: { summary: 'hello' } }], usage: { input: 10, output: 5 } },
    ]);
    const ok = await client.submit('claude', 'Say hello', { project: 'acme' });
    const live = { text: '' };
    void recordStream(`${server.url}/api/executions/${ok.execution_uuid}/events`, streams.signal, live);
    const done = await waitFor(async () => {
      const s = await client.queryTaskState(String(ok.task_id));
      return s && ['completed', 'failed'].includes(String(s.state)) ? s : null;
    }, 20_000);
    expect(done.error).toBeNull();
    expect(done.state).toBe('completed');
    // The provider got the project's key: the secret was really used.
    expect(fake.requests.at(-1)?.apiKey).toBe(CANARY);

    // A key the provider rejects fails the run with a message naming the variable, not the value.
    await see(
      await fetch(`${server.url}/api/projects/acme/secrets/ANTHROPIC_API_KEY`, {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify({ value: WRONG }),
      }),
    );
    fake.script([{ text: 'never' }]);
    const bad = await client.submit('claude', 'Say hello again', { project: 'acme' });
    const failed = await waitFor(async () => {
      const s = await client.queryTaskState(String(bad.task_id));
      return s && ['completed', 'failed'].includes(String(s.state)) ? s : null;
    }, 20_000);
    expect(failed.state).toBe('failed');
    expect(String(failed.error)).toMatch(/ANTHROPIC_API_KEY rejected/);
    seen.push(JSON.stringify(done), JSON.stringify(failed));
    for (const path of [
      `/api/executions/${ok.execution_uuid}`,
      `/api/executions/${bad.execution_uuid}`,
      `/api/tasks/${ok.task_id}`,
      '/api/projects',
      '/api/audit/events?limit=200',
    ]) {
      await see(await fetch(`${server.url}${path}`, { headers: admin }));
    }
    await see(
      await fetch(`${server.url}/api/projects/nope/secrets/ANTHROPIC_API_KEY`, {
        method: 'PUT',
        headers: admin,
        body: JSON.stringify({ value: CANARY }),
      }),
    );
    await new Promise((r) => setTimeout(r, 300));
    streams.abort();

    expect(board.text).toContain('COMPLETED');
    expect(live.text).toContain('event:');
    for (const secret of [CANARY, WRONG]) {
      expect(seen.join('\n')).not.toContain(secret);
      expect(board.text).not.toContain(secret);
      expect(live.text).not.toContain(secret);
      expect(server.logs()).not.toContain(secret);
      expect(server.output()).not.toContain(secret);
    }
    expect(server.logs().length).toBeGreaterThan(1000); // the log was on, at debug level

    // Every row of every table, the queue's job payloads included, as text.
    const tables = await server.prisma.$queryRawUnsafe<Array<{ schema: string; name: string }>>(
      `SELECT table_schema AS schema, table_name AS name FROM information_schema.tables
        WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    expect(tables.some((t) => t.schema === 'bullmq_clawlink')).toBe(true);
    let dumped = '';
    for (const t of tables) {
      const rows = await server.prisma.$queryRawUnsafe<Array<{ row: string }>>(
        `SELECT to_jsonb(x)::text AS row FROM "${t.schema}"."${t.name}" x`,
      );
      dumped += rows.map((r) => r.row).join('\n');
    }
    expect(dumped.length).toBeGreaterThan(1000);
    expect(dumped).not.toContain(CANARY);
    expect(dumped).not.toContain(WRONG);
    expect(dumped).not.toContain(Buffer.from(CANARY).toString('hex'));
  });
});
