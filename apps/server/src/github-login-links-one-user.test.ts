import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

describe("a user's GitHub login (PATCH /api/users/:id)", () => {
  let server: TestServer;
  let admin: Record<string, string>;
  let developer: Record<string, string>;
  const patch = (id: string, body: unknown, as = admin) =>
    fetch(`${server.url}/api/users/${id}`, {
      method: 'PATCH',
      headers: { ...as, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const loginOf = async (id: string) =>
    (await server.prisma.user.findUniqueOrThrow({ where: { id } })).githubLogin;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', role: 'api', env: { AUTH_MODE: 'team' } });
    admin = { authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}` };
    await server.addUser('erin', 'DEVELOPER');
    await server.addUser('finn', 'DEVELOPER');
    developer = { authorization: `Bearer ${(await server.addUserWithKey('dev', 'DEVELOPER')).key}` };
  });
  afterAll(async () => server?.stop());

  it('links a login lower-cased, lists it, and audits the change without secrets', async () => {
    const res = await patch('erin', { github_login: 'Erin-Codes' });
    expect(res.status).toBe(200);
    expect(await readJson(res)).toMatchObject({ id: 'erin', github_login: 'erin-codes' });
    expect(await loginOf('erin')).toBe('erin-codes');
    const list = await readJson(await fetch(`${server.url}/api/users`, { headers: admin }));
    expect(list.find((u: { id: string }) => u.id === 'erin').github_login).toBe('erin-codes');
    expect(list.find((u: { id: string }) => u.id === 'finn').github_login).toBeNull();

    const row = await server.prisma.auditEvent.findFirstOrThrow({
      where: { action: 'user.update', resourceId: 'erin' },
      orderBy: { id: 'desc' },
    });
    expect(row.actorUserId).toBe('admin');
    expect(row.detail).toEqual({
      fields: ['github_login'],
      github_login_from: null,
      github_login_to: 'erin-codes',
    });
  });

  it('refuses a login linked to someone else with 409 naming them, in any case', async () => {
    const res = await patch('finn', { github_login: 'ERIN-codes' });
    expect(res.status).toBe(409);
    expect((await readJson(res)).message).toBe("GitHub login 'erin-codes' is already linked to user 'erin'");
    expect(await loginOf('finn')).toBeNull();
    // Linking the same login to its own user again is no conflict.
    expect((await patch('erin', { github_login: 'erin-codes' })).status).toBe(200);
  });

  it.each(['bad--login', '-leading', 'trailing-', 'under_score', 'a'.repeat(40), 'sp ace', ''])(
    'refuses %j with 400 naming the field',
    async (login) => {
      const res = await patch('finn', { github_login: login });
      expect(res.status).toBe(400);
      const { message } = await readJson(res);
      expect(message).toMatch(/^body\.github_login: must be a GitHub login/);
      expect(message.length).toBeLessThan(120);
      expect(await loginOf('finn')).toBeNull();
    },
  );

  it('takes a 39-character login and unlinks with null, freeing the login', async () => {
    const long = `a-${'b'.repeat(37)}`;
    expect((await patch('finn', { github_login: long })).status).toBe(200);
    expect(await loginOf('finn')).toBe(long);
    const unlinked = await patch('erin', { github_login: null });
    expect(await readJson(unlinked)).toMatchObject({ github_login: null });
    expect(await loginOf('erin')).toBeNull();
    const taken = await patch('finn', { github_login: 'Erin-Codes' });
    expect(taken.status).toBe(200);
    expect(await loginOf('finn')).toBe('erin-codes');
  });

  it('needs user:manage: a developer gets 403 and nothing changes', async () => {
    const res = await patch('finn', { github_login: 'someone-else' }, developer);
    expect(res.status).toBe(403);
    expect((await readJson(res)).message).toMatch(/lacks user:manage/);
    expect(await loginOf('finn')).toBe('erin-codes');
  });
});
