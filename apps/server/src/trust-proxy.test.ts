import { addUser, setPassword } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support/test-server.ts';

const PASSWORD = 'correct horse battery staple';
const CLIENT = '203.0.113.7';
/** What a reverse proxy on this machine adds to a request it forwards from CLIENT over TLS. */
const FORWARDED = { 'x-forwarded-for': CLIENT, 'x-forwarded-proto': 'https' };

async function signIn(server: TestServer) {
  return fetch(`${server.url}/api/auth/login`, {
    method: 'POST',
    headers: { ...FORWARDED, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'alice', password: PASSWORD }),
  });
}

/** The address the server recorded for a pairing request made through the proxy. */
async function pairingAddress(server: TestServer, device: string): Promise<string | null> {
  await fetch(`${server.url}/api/runtime/sessions?user_id=alice&device_id=${device}`, {
    method: 'POST',
    headers: FORWARDED,
  });
  const row = await server.prisma.device.findUniqueOrThrow({
    where: { userId_deviceId: { userId: 'alice', deviceId: device } },
  });
  return row.requestIp;
}

async function withAlice(server: TestServer) {
  const deps = { prisma: server.prisma, audit: server.deps.audit };
  await addUser(deps, { id: 'alice', role: 'DEVELOPER' });
  await setPassword(deps, { userId: 'alice', password: PASSWORD });
}

describe('behind a reverse proxy (TRUST_PROXY)', () => {
  let proxied: TestServer;
  let direct: TestServer;
  let local: TestServer;

  beforeAll(async () => {
    proxied = await startTestServer({
      backend: 'postgres',
      env: { AUTH_MODE: 'team', TRUST_PROXY: '127.0.0.1' },
    });
    direct = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    local = await startTestServer({ backend: 'postgres', env: { TRUST_PROXY: 'loopback' } });
    await withAlice(proxied);
    await withAlice(direct);
  });
  afterAll(async () => {
    await Promise.all([proxied?.stop(), direct?.stop(), local?.stop()]);
  });

  it('takes the client address and X-Forwarded-Proto from a trusted proxy (without TRUST_PROXY every client was the proxy, and the sign-in cookie behind TLS was never Secure)', async () => {
    const res = await signIn(proxied);
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).toMatch(/;\s*Secure/i);
    expect(await pairingAddress(proxied, 'laptop')).toBe(CLIENT);
    const session = await proxied.prisma.webSession.findFirstOrThrow({ where: { userId: 'alice' } });
    expect(session.ip).toBe(CLIENT);
  });

  it('ignores forwarding headers unless TRUST_PROXY names the peer', async () => {
    const res = await signIn(direct);
    expect(res.status).toBe(200);
    expect(res.headers.get('set-cookie')).not.toMatch(/;\s*Secure/i);
    expect(await pairingAddress(direct, 'laptop')).toBe('127.0.0.1');
  });

  it('a client forwarded by a proxy on this machine is not the local developer', async () => {
    expect((await fetch(`${local.url}/api/tasks`)).status).toBe(200);
    const forwarded = await fetch(`${local.url}/api/tasks`, { headers: FORWARDED });
    expect(forwarded.status).toBe(401);
  });
});
