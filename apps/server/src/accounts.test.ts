import { addUser, setPassword } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

const PASSWORD = 'correct horse battery';

/** A browser's view: the cookie jar holds the session cookie, the CSRF token comes from /me or sign-in. */
class Browser {
  cookie = '';
  csrf = '';
  constructor(private readonly base: string) {}

  async signIn(userId: string, password: string) {
    const res = await fetch(`${this.base}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.cookie ? { cookie: this.cookie } : {}) },
      body: JSON.stringify({ user_id: userId, password }),
    });
    const setCookie = res.headers.get('set-cookie') ?? '';
    if (res.ok) {
      this.cookie = setCookie.split(';')[0] ?? '';
      this.csrf = ((await res.clone().json()) as { csrf_token: string }).csrf_token;
    }
    return { res, setCookie };
  }

  fetch(path: string, init: RequestInit & { csrf?: boolean } = {}) {
    const { csrf = true, ...rest } = init;
    return fetch(`${this.base}${path}`, {
      ...rest,
      headers: {
        ...(rest.body ? { 'content-type': 'application/json' } : {}),
        ...(this.cookie ? { cookie: this.cookie } : {}),
        ...(csrf && this.csrf ? { 'x-csrf-token': this.csrf } : {}),
        ...(rest.headers as Record<string, string> | undefined),
      },
    });
  }
}

describe('accounts in team mode: passwords, cookies, CSRF, API keys', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    for (const [id, role] of [
      ['alice', 'DEVELOPER'],
      ['mallory', 'DEVELOPER'],
      ['vic', 'VIEWER'],
    ] as const) {
      await addUser({ prisma: server.prisma, audit: server.deps.audit }, { id, role });
      await setPassword(
        { prisma: server.prisma, audit: server.deps.audit },
        { userId: id, password: `${PASSWORD} ${id.length}` },
      );
    }
  });
  afterAll(async () => server?.stop());

  const pw = (id: string) => `${PASSWORD} ${id.length}`;

  it('needs credentials for everything but sign-in and health checks, even from loopback', async () => {
    for (const path of ['/api/tasks', '/api/projects', '/api/auth/me', '/api/runtime/agents']) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(401);
      expect(((await res.json()) as { message: string }).message).toMatch(/sign in/);
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    for (const path of ['/docs', '/docs/json'])
      expect((await fetch(`${server.url}${path}`)).status, path).toBe(401);
    const b = new Browser(server.url);
    await b.signIn('alice', pw('alice'));
    expect((await b.fetch('/docs/json')).status).toBe(200);
  });

  it('signs in with an httpOnly, SameSite=Lax cookie and never hands out a cookie it was given', async () => {
    const b = new Browser(server.url);
    b.cookie = 'ccl_session=attacker-chosen-value';
    const { res, setCookie } = await b.signIn('alice', pw('alice'));
    expect(res.status).toBe(200);
    expect(setCookie).toMatch(/HttpOnly/i);
    expect(setCookie).toMatch(/SameSite=Lax/i);
    expect(setCookie).not.toMatch(/Secure/i); // plain http here; https sets Secure
    expect(b.cookie).not.toContain('attacker-chosen-value');
    const me = await readJson(await b.fetch('/api/auth/me'));
    expect(me).toMatchObject({ user_id: 'alice', role: 'DEVELOPER', via: 'cookie', auth_mode: 'team' });
    const fixed = await fetch(`${server.url}/api/auth/me`, {
      headers: { cookie: 'ccl_session=attacker-chosen-value' },
    });
    expect(fixed.status).toBe(401);
    const row = await server.prisma.auditEvent.findFirst({
      where: { action: 'auth.signin', resourceId: 'alice', outcome: 'ALLOWED' },
    });
    expect(row).not.toBeNull();
  });

  it('refuses cookie changes without the CSRF token or from another site', async () => {
    const b = new Browser(server.url);
    await b.signIn('alice', pw('alice'));
    const body = JSON.stringify({ project: 'inbox', title: 'card' });
    const before = await server.prisma.task.count();
    const noToken = await b.fetch('/api/tasks', { method: 'POST', body, csrf: false });
    expect(noToken.status).toBe(403);
    expect(((await noToken.json()) as { message: string }).message).toMatch(/X-CSRF-Token/);
    const crossSite = await b.fetch('/api/tasks', {
      method: 'POST',
      body,
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' },
    });
    expect(crossSite.status).toBe(403);
    expect(await server.prisma.task.count()).toBe(before);
    const ok = await b.fetch('/api/tasks', { method: 'POST', body });
    expect(ok.status).toBe(201);
    expect(
      await server.prisma.auditEvent.count({ where: { action: 'request.csrf', outcome: 'DENIED' } }),
    ).toBe(2);
  });

  it('signs out, and a revoked or expired session stops working on the next request', async () => {
    const b = new Browser(server.url);
    await b.signIn('alice', pw('alice'));
    expect((await b.fetch('/api/auth/logout', { method: 'POST' })).status).toBe(200);
    expect((await b.fetch('/api/auth/me')).status).toBe(401);

    const c = new Browser(server.url);
    await c.signIn('alice', pw('alice'));
    const other = new Browser(server.url);
    await other.signIn('alice', pw('alice'));
    const sessions = (await readJson(await other.fetch('/api/auth/sessions'))) as unknown as Array<{
      id: string;
      current: boolean;
    }>;
    const target = sessions.find((s) => !s.current && s.id);
    // Revoke c's session from the other browser.
    const cMe = await server.prisma.webSession.findMany({ where: { userId: 'alice', revokedAt: null } });
    expect(cMe.length).toBeGreaterThanOrEqual(2);
    expect(target).toBeDefined();
    for (const s of sessions.filter((s) => !s.current)) {
      expect((await other.fetch(`/api/auth/sessions/${s.id}/revoke`, { method: 'POST' })).status).toBe(200);
    }
    expect((await c.fetch('/api/auth/me')).status).toBe(401);
    expect((await other.fetch('/api/auth/me')).status).toBe(200);

    // Someone else's session is not visible: 404.
    const m = new Browser(server.url);
    await m.signIn('mallory', pw('mallory'));
    const mine = await server.prisma.webSession.findFirst({ where: { userId: 'alice', revokedAt: null } });
    expect((await m.fetch(`/api/auth/sessions/${mine?.id}/revoke`, { method: 'POST' })).status).toBe(404);

    // Expiry and idleness end a session.
    await server.prisma.webSession.updateMany({
      where: { userId: 'alice', revokedAt: null },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expect((await other.fetch('/api/auth/me')).status).toBe(401);
    const d = new Browser(server.url);
    await d.signIn('mallory', pw('mallory'));
    await server.prisma.webSession.updateMany({
      where: { userId: 'mallory', revokedAt: null },
      data: { lastSeenAt: new Date(Date.now() - 2 * 86_400_000) },
    });
    expect((await d.fetch('/api/auth/me')).status).toBe(401);
  });

  it('limits failed sign-ins per account with a clear 429, even for the right password', async () => {
    const b = new Browser(server.url);
    for (let i = 0; i < 5; i++) {
      const { res } = await b.signIn('vic', 'wrong password');
      expect(res.status).toBe(401);
      expect(((await res.json()) as { message: string }).message).toBe('wrong user id or password');
    }
    const { res } = await b.signIn('vic', pw('vic'));
    expect(res.status).toBe(429);
    expect(((await res.json()) as { message: string }).message).toMatch(
      /too many failed sign-ins for this account/,
    );
    const unknown = await b.signIn('nobody', 'x');
    expect(unknown.res.status).toBe(401);
    expect(
      await server.prisma.auditEvent.count({
        where: { action: 'auth.signin', outcome: 'DENIED', resourceId: 'vic' },
      }),
    ).toBe(5);
  });

  it('issues API keys shown once, limited to a subset of permissions, listed with last use, revocable', async () => {
    const b = new Browser(server.url);
    await b.signIn('alice', pw('alice'));
    const beyond = await b.fetch('/api/keys', {
      method: 'POST',
      body: JSON.stringify({ name: 'too much', permissions: ['audit:view'] }),
    });
    expect(beyond.status).toBe(400);
    expect(((await beyond.json()) as { message: string }).message).toMatch(/lacks audit:view/);

    const created = await readJson(
      await b.fetch('/api/keys', {
        method: 'POST',
        body: JSON.stringify({ name: 'read only', permissions: ['task:view'] }),
      }),
    );
    const key = created.key as string;
    expect(key).toMatch(/^ccl_/);
    expect(await server.prisma.apiKey.count({ where: { keyHash: key } })).toBe(0);
    const bearer = { authorization: `Bearer ${key}` };
    expect((await fetch(`${server.url}/api/tasks`, { headers: bearer })).status).toBe(200);
    const write = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ project: 'inbox', title: 'x' }),
    });
    expect(write.status).toBe(403);

    const listed = (await readJson(await b.fetch('/api/keys'))) as unknown as Array<Record<string, unknown>>;
    const entry = listed.find((k) => k.id === created.id);
    expect(entry?.last_used_at).not.toBeNull();
    expect(entry).not.toHaveProperty('key');
    expect(JSON.stringify(listed)).not.toContain(key);

    // Another user cannot see or revoke it.
    const m = new Browser(server.url);
    await m.signIn('mallory', pw('mallory'));
    expect((await m.fetch(`/api/keys/${created.id}/revoke`, { method: 'POST' })).status).toBe(404);

    expect((await b.fetch(`/api/keys/${created.id}/revoke`, { method: 'POST' })).status).toBe(200);
    const revoked = await fetch(`${server.url}/api/tasks`, { headers: bearer });
    expect(revoked.status).toBe(401);
    expect(((await revoked.json()) as { message: string }).message).toMatch(/not valid/);
  });

  it('stops an expired key, also one the server has verified and keeps for a few seconds', async () => {
    const b = new Browser(server.url);
    await b.signIn('alice', pw('alice'));
    // A key's expiry never changes once it is made, so the server keeps a verified key until then at most.
    const expiresAt = Date.now() + 3_000;
    const created = await readJson(
      await b.fetch('/api/keys', {
        method: 'POST',
        body: JSON.stringify({ name: 'short', expires_at: new Date(expiresAt).toISOString() }),
      }),
    );
    const bearer = { authorization: `Bearer ${created.key as string}` };
    expect((await fetch(`${server.url}/api/tasks`, { headers: bearer })).status).toBe(200);
    await new Promise((r) => setTimeout(r, expiresAt - Date.now() + 50));
    expect((await fetch(`${server.url}/api/tasks`, { headers: bearer })).status).toBe(401);
  });
});

describe('accounts in local mode', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
  });
  afterAll(async () => server?.stop());

  it('opens for loopback visitors as the local developer, refusing cross-site changes', async () => {
    const me = await readJson(await fetch(`${server.url}/api/auth/me`));
    expect(me).toMatchObject({ user_id: 'local', via: 'local', auth_mode: 'local', csrf_token: null });
    const body = JSON.stringify({ project: 'inbox', title: 'card' });
    const cross = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'cross-site' },
      body,
    });
    expect(cross.status).toBe(403);
    const same = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'sec-fetch-site': 'same-origin' },
      body,
    });
    expect(same.status).toBe(201);
  });
});
