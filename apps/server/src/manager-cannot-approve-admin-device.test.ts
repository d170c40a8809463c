import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

/**
 * Issue 17, item 9: a MANAGER (device:approve) approved a CoderClaw device of the admin and then
 * acted as admin through it. An approved device acts as its owner, so only the owner, or someone
 * holding every permission of the owner, approves it.
 */
describe('approving another user’s device', () => {
  let server: TestServer;
  const as: Record<string, Record<string, string>> = {};
  const devices: Record<string, string> = {};

  const approve = (who: string, owner: string) =>
    fetch(`${server.url}/api/devices/${devices[owner]}/approve`, { method: 'POST', headers: as[who] });
  const stateOf = async (owner: string) =>
    (await server.prisma.device.findUniqueOrThrow({ where: { id: devices[owner] as string } })).state;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', role: 'api', env: { AUTH_MODE: 'team' } });
    for (const [user, role] of [
      ['ada', 'ADMIN'],
      ['maria', 'MANAGER'],
      ['dev', 'DEVELOPER'],
    ] as const) {
      const { key } = await server.addUserWithKey(user, role);
      as[user] = { authorization: `Bearer ${key}` };
      // A pairing request, as a CoderClaw adapter's first attempt leaves it.
      devices[user] = (
        await server.prisma.device.create({
          data: { userId: user, deviceId: 'laptop', requestIp: '127.0.0.1' },
        })
      ).id;
    }
  });
  afterAll(async () => server?.stop());

  it('a MANAGER cannot approve a device of an ADMIN user (403 naming what it lacks)', async () => {
    const res = await approve('maria', 'ada');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toMatch(/lacks? .*user:manage/);
    expect(await stateOf('ada')).toBe('PENDING');
    expect(
      await server.prisma.auditEvent.count({
        where: { action: 'device.approve', outcome: 'DENIED', resourceId: devices.ada as string },
      }),
    ).toBe(1);
  });

  it('a MANAGER approves a DEVELOPER’s device, whose every permission it holds', async () => {
    const res = await approve('maria', 'dev');
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ state: 'approved', decided_by: 'maria' });
  });

  it('the owner approves their own device, and an ADMIN approves a MANAGER’s', async () => {
    expect((await approve('ada', 'ada')).status).toBe(200);
    expect((await approve('ada', 'maria')).status).toBe(200);
  });
});
