import { setPassword } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support/test-server.ts';

const PASSWORD = 'correct horse battery staple';

/**
 * Issue 17, item 5: 100 simultaneous sign-ins all read "no failures yet" before any failure was
 * written, so the per-account limit let every guess through (99 × 401 and one 200). Each attempt
 * must be counted before its password is checked.
 */
describe('sign-in limit under concurrency', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', role: 'api', env: { AUTH_MODE: 'team' } });
    for (const id of ['vic', 'wendy']) {
      await server.addUser(id, 'VIEWER');
      await setPassword(
        { prisma: server.prisma, audit: server.deps.audit },
        { userId: id, password: PASSWORD },
      );
    }
  });
  afterAll(async () => server?.stop());

  const signIn = (userId: string, password: string) =>
    fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: userId, password }),
    });

  it('100 concurrent wrong passwords get 5 × 401, the rest 429, and then the right one is refused', async () => {
    const statuses = await Promise.all(
      Array.from({ length: 100 }, (_, i) => signIn('vic', `wrong password ${i}`).then((r) => r.status)),
    );
    const count = (status: number) => statuses.filter((s) => s === status).length;
    expect({ 401: count(401), 429: count(429) }).toEqual({ 401: 5, 429: 95 });
    expect((await signIn('vic', PASSWORD)).status).toBe(429);
    expect(
      await server.prisma.auditEvent.count({
        where: { action: 'auth.signin', outcome: 'DENIED', resourceId: 'vic' },
      }),
    ).toBe(5);
  });

  it("locks per (account, address): a stranger's failures do not lock the owner out elsewhere", async () => {
    const from = (remoteAddress: string, password: string) =>
      server.inject({
        method: 'POST',
        url: '/api/auth/login',
        remoteAddress,
        payload: { user_id: 'wendy', password },
      });
    const attacker = await Promise.all(
      Array.from({ length: 20 }, (_, i) => from('198.51.100.66', `guess ${i}`).then((r) => r.statusCode)),
    );
    expect(attacker.filter((s) => s === 401)).toHaveLength(5);
    expect((await from('198.51.100.66', PASSWORD)).statusCode).toBe(429);
    expect((await from('198.51.100.7', PASSWORD)).statusCode).toBe(200);
  });
});
