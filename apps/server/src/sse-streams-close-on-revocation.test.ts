import { setTimeout as sleep } from 'node:timers/promises';
import { approveDevice, createApiKey, revokeDevice, setPassword } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorCtx } from './cli-support.ts';
import { cliEnv, runCli } from './test-support/run-cli.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

const operator = operatorCtx();
const PASSWORD = 'correct horse battery staple';

/** An open text/event-stream: the event names seen so far, and whether the server ended it. */
async function openStream(url: string, headers: Record<string, string>) {
  const controller = new AbortController();
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  const events: string[] = [];
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const ended = (async () => {
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      const blocks = buffer.split('\n\n');
      buffer = blocks.pop() ?? '';
      for (const block of blocks) {
        const name = /^event: (\S+)$/m.exec(block)?.[1];
        if (name) events.push(name);
      }
    }
  })();
  /** 'ended' when the server closed the stream within `ms`, else 'open'. */
  const state = (ms: number) => Promise.race([ended.then(() => 'ended'), sleep(ms).then(() => 'open')]);
  return { events: () => events, state, close: () => controller.abort() };
}

/**
 * Issue 17, item 14: open SSE streams outlived the revocation of their key or session. Now every
 * revocation (in this process or another: the CLI) is announced on the sessions channel, and each
 * open stream re-checks its credential and ends when it no longer holds.
 */
describe('event streams close when their credential is revoked (team mode)', () => {
  let server: TestServer;
  let admin: Record<string, string>;
  const streams: Array<{ close(): void }> = [];

  const keyFor = async (user: string) => {
    const { key, id } = await createApiKey(server.deps, operator, {
      userId: user,
      name: `sse ${Date.now()}`,
    });
    return { id, auth: { authorization: `Bearer ${key}` } };
  };
  const open = async (path: string, headers: Record<string, string>) => {
    const s = await openStream(`${server.url}${path}`, headers);
    streams.push(s);
    expect(await s.state(300)).toBe('open');
    return s;
  };

  beforeAll(async () => {
    // No worker: executions stay pending, so their streams stay open until something ends them.
    server = await startTestServer({ backend: 'postgres', role: 'api', env: { AUTH_MODE: 'team' } });
    admin = { authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}` };
    await server.addUser('ann', 'DEVELOPER');
    await setPassword(server.deps, { userId: 'ann', password: PASSWORD });
  });
  afterAll(async () => {
    for (const s of streams) s.close();
    await server?.stop();
  });

  it("the board stream and a pending execution's stream opened with an API key end when the key is revoked over HTTP", async () => {
    const ann = await keyFor('ann');
    const other = await keyFor('ann');
    const task = await readJson(
      await fetch(`${server.url}/api/tasks`, {
        method: 'POST',
        headers: { ...ann.auth, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'pending', prompt: 'wait', agent_type: 'echo' }),
      }),
    );
    const board = await open('/api/board/events', ann.auth);
    const execution = await open(`/api/executions/${task.latest_execution.id}/events`, ann.auth);
    const untouched = await open('/api/board/events', other.auth);
    const res = await fetch(`${server.url}/api/keys/${ann.id}/revoke`, { method: 'POST', headers: admin });
    expect(res.status).toBe(200);
    expect(await board.state(3000)).toBe('ended');
    expect(await execution.state(3000)).toBe('ended');
    expect(board.events()).toContain('revoked');
    expect(execution.events()).not.toContain('end');
    // Another key of the same user keeps its stream.
    expect(await untouched.state(500)).toBe('open');
  });

  it('a stream ends when its key is revoked by `clawlink key revoke` in another process', async () => {
    const ann = await keyFor('ann');
    const board = await open('/api/board/events', ann.auth);
    const run = await runCli(
      ['key', 'revoke', ann.id],
      cliEnv({ DATABASE_URL: server.databaseUrl, LOG_LEVEL: 'warn' }),
    );
    expect(run.code, run.text).toBe(0);
    expect(await board.state(3000)).toBe('ended');
  }, 60_000);

  it("a stream opened with a device's base URL (/k/<device secret>) ends when the device is revoked", async () => {
    const { secret } = await approveDevice(server.deps, operator, { userId: 'ann', deviceId: 'laptop' });
    const board = await open(`/k/${secret}/api/board/events`, {});
    await revokeDevice(server.deps, operator, { userId: 'ann', deviceId: 'laptop' });
    expect(await board.state(3000)).toBe('ended');
  });

  it('a stream opened with a browser sign-in ends when that session is revoked', async () => {
    const signIn = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'ann', password: PASSWORD }),
    });
    expect(signIn.status).toBe(200);
    const cookie = (signIn.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const board = await open('/api/board/events', { cookie });
    const session = await server.prisma.webSession.findFirstOrThrow({
      where: { userId: 'ann', revokedAt: null },
      orderBy: { createdAt: 'desc' },
    });
    const res = await fetch(`${server.url}/api/auth/sessions/${session.id}/revoke`, {
      method: 'POST',
      headers: admin,
    });
    expect(res.status).toBe(200);
    expect(await board.state(3000)).toBe('ended');
  });
});
