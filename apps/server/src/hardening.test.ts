import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { startTestServer, type TestServer } from './test-support/test-server.ts';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

async function sessionOf(server: TestServer) {
  const client = new CoderClawClient({ baseUrl: server.url });
  await client.connect();
  return client.sessionId as string;
}

/** The first admin's token, printed once at the first start. */
const adminHeaders = (server: TestServer) => ({
  ...JSON_HEADERS,
  authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}`,
});

const submit = (server: TestServer, body: Record<string, unknown>) =>
  fetch(`${server.url}/api/runtime/tasks/submit`, {
    method: 'POST',
    headers: JSON_HEADERS,
    body: JSON.stringify({ agent_type: 'echo', prompt: 'hello', ...body }),
  });

describe('security headers and CORS', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      backend: 'postgres',
      env: { CORS_ORIGINS: 'https://board.example.com' },
    });
  });
  afterAll(async () => server?.stop());

  it('sends the full helmet set on pages and the API set on JSON answers', async () => {
    for (const path of ['/docs/static/index.html', '/', '/no/such/page']) {
      const res = await fetch(`${server.url}${path}`, { headers: { accept: 'text/html' } });
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('x-frame-options'), path).toBe('SAMEORIGIN');
      expect(res.headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(res.headers.get('content-security-policy'), path).toContain("default-src 'self'");
      expect(res.headers.get('content-security-policy'), path).not.toContain('upgrade-insecure-requests');
    }
    // JSON is never a page: it may load nothing, be framed by nobody, and is not sniffed.
    for (const path of ['/api/projects', '/healthz', '/api/no-such-route', '/k/ccl_x/api/projects']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(res.headers.get('cross-origin-resource-policy'), path).toBe('same-origin');
      expect(res.headers.get('content-security-policy'), path).toBe(
        "default-src 'none';frame-ancestors 'none'",
      );
      expect(res.headers.get('strict-transport-security'), path).toContain('max-age=');
    }
  });

  it('answers cross-origin calls only for the configured origins', async () => {
    const allowed = await fetch(`${server.url}/api/projects`, {
      headers: { origin: 'https://board.example.com' },
    });
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://board.example.com');
    const other = await fetch(`${server.url}/api/projects`, { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${server.url}/api/runtime/tasks/submit`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('CORS is off by default', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
  });
  afterAll(async () => server?.stop());

  it('sends no CORS headers to any origin', async () => {
    const res = await fetch(`${server.url}/api/projects`, {
      headers: { origin: 'https://board.example.com' },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('rate limits', () => {
  let server: TestServer;
  let sessionId: string;
  beforeAll(async () => {
    server = await startTestServer({
      backend: 'postgres',
      env: { RATE_LIMIT_PER_MINUTE: '12', RATE_LIMIT_SUBMIT_PER_MINUTE: '3' },
    });
    sessionId = await sessionOf(server);
  });
  afterAll(async () => server?.stop());

  it('answers 429 with a clear message past the submit limit, creating nothing', async () => {
    for (let i = 0; i < 3; i++) expect((await submit(server, { session_id: sessionId })).status).toBe(200);
    const res = await submit(server, { session_id: sessionId });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    const body = (await res.json()) as { error: string; message: string };
    expect(body.error).toBe('rate_limited');
    expect(body.message).toMatch(/at most 3 per minute.*retry in \d+ s/);
    expect(await server.prisma.execution.count()).toBe(3);
  });

  it('limits other routes at the general rate, never health checks or state polls', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) statuses.push((await fetch(`${server.url}/api/projects`)).status);
    expect(statuses).toContain(429);
    for (let i = 0; i < 20; i++) expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    // CoderClaw polls every running task once a second; more tasks than the limit must keep working.
    const task = await server.prisma.task.findFirstOrThrow();
    const poll = `${server.url}/api/runtime/tasks/${task.id}/state?session_id=${sessionId}`;
    for (let i = 0; i < 30; i++) expect((await fetch(poll)).status).toBe(200);
  });
});

describe('repository URLs (SSRF guard)', () => {
  let server: TestServer;
  let teamish: TestServer;
  let sessionId: string;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    // Bound to loopback for the test, but with the team server's repository policy.
    teamish = await startTestServer({
      backend: 'postgres',
      // A loopback range stands for the admin's private network: the accepted URL is cloned, and
      // no test may send a packet off this machine.
      env: { ALLOW_LOCAL_REPOS: 'false', ALLOWED_PRIVATE_HOSTS: '127.0.9.0/24' },
    });
    sessionId = await sessionOf(teamish);
  });
  afterAll(async () => {
    await server?.stop();
    await teamish?.stop();
  });

  it.each([
    ['a loopback address', 'http://127.0.0.1:8000/x.git', /context\.repo: .*loopback or private/],
    ['cloud metadata', 'http://169.254.169.254/latest', /loopback or private/],
    ['a transport helper', 'ext::sh -c touch% /tmp/pwned', /transport helper/],
    ['a server path', '/etc', /local repository paths are not allowed/],
  ])('refuses %s at submit, creating nothing', async (_name, repo, why) => {
    const before = await teamish.prisma.task.count();
    const res = await submit(teamish, { session_id: sessionId, context: { repo } });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(why);
    expect(await teamish.prisma.task.count()).toBe(before);
  });

  it('accepts a private range the admin allowed', async () => {
    const res = await submit(teamish, {
      session_id: sessionId,
      context: { repo: 'https://127.0.9.2/a.git' },
    });
    expect(res.status).toBe(200);
  });

  it('checks project settings too', async () => {
    const res = await fetch(`${teamish.url}/api/projects`, {
      method: 'POST',
      headers: adminHeaders(teamish),
      body: JSON.stringify({ slug: 'p1', settings: { repo: 'git@10.0.0.1:a/b.git' } }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { message: string }).message).toMatch(/settings\.repo: .*private/);
    expect(await teamish.prisma.project.count({ where: { slug: 'p1' } })).toBe(0);
  });

  it('lets a loopback single-user server clone local paths', async () => {
    const res = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: adminHeaders(server),
      body: JSON.stringify({ slug: 'local', settings: { repo: '/srv/repos/app' } }),
    });
    expect(res.status).toBe(201);
  });
});
