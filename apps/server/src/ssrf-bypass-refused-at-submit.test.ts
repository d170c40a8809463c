import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { startTestServer, type TestServer } from './test-support/test-server.ts';

/**
 * Issue 17, item 3: repository URLs that passed the guard while git went elsewhere, or that
 * pointed at the server itself, are refused when the task is submitted, so nothing is queued and
 * no clone is tried. Only IP literals (no name is looked up) and no worker (nothing is cloned):
 * no packet leaves the machine.
 */
const OWN = Object.values(networkInterfaces())
  .flat()
  .flatMap((i) => (i ? [i.address.split('%')[0] ?? i.address] : []))
  .map((a) => (a.includes(':') ? `[${a}]` : a));

describe('repository URLs refused at submit (SSRF guard bypasses)', () => {
  let server: TestServer;
  let sessionId: string;
  beforeAll(async () => {
    // The team server's repository policy on a loopback test server. No worker: should a URL be
    // accepted after all (as before the fix), nothing tries to clone it.
    server = await startTestServer({ backend: 'postgres', role: 'api', env: { ALLOW_LOCAL_REPOS: 'false' } });
    const client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
    sessionId = client.sessionId as string;
  });
  afterAll(async () => server?.stop());

  const submit = (repo: string) =>
    fetch(`${server.url}/api/runtime/tasks/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent_type: 'echo', prompt: 'hi', session_id: sessionId, context: { repo } }),
    });

  it.each([
    [
      'backslash userinfo (curl reads the host after the @)',
      'http://192.0.2.2\\@127.0.0.1:8300/x',
      /backslash/,
    ],
    ['userinfo', 'http://140.82.121.4@127.0.0.1:8300/x', /user name or password/],
    ['a documentation range', 'https://203.0.113.7/a.git', /loopback or private/],
    ['a reserved range', 'https://240.0.0.1/a.git', /loopback or private/],
    ['IPv6 documentation', 'https://[2001:db8::7]/a.git', /loopback or private/],
    ...OWN.map((host) => [
      `this server's own address ${host}`,
      `http://${host}:8300/a.git`,
      /loopback or private/,
    ]),
  ] as Array<[string, string, RegExp]>)('refuses %s, creating nothing', async (_name, repo, why) => {
    const before = await server.prisma.task.count();
    const res = await submit(repo);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(why);
    expect(await server.prisma.task.count()).toBe(before);
  });
});
