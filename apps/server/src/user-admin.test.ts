import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

describe('users and roles (user:manage)', () => {
  let server: TestServer;
  let admin: Record<string, string>;
  const api = (path: string, init: RequestInit & { as?: Record<string, string> } = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: { 'content-type': 'application/json', ...(init.as ?? admin) },
    });
  const keyOf = async (user: string, password: string) => {
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: user, password }),
    });
    expect(login.status).toBe(200);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
    const csrf = ((await login.json()) as { csrf_token: string }).csrf_token;
    const web = { cookie, 'x-csrf-token': csrf };
    const created = await readJson(
      await api('/api/keys', { method: 'POST', as: web, body: JSON.stringify({ name: 'k' }) }),
    );
    return { web, bearer: { authorization: `Bearer ${created.key as string}` } };
  };

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    admin = { authorization: `Bearer ${token}` };
  });
  afterAll(async () => server?.stop());

  it('creates a user who can sign in; refuses fields it does not take', async () => {
    const res = await api('/api/users', {
      method: 'POST',
      body: JSON.stringify({ id: 'erin', name: 'Erin', role: 'DEVELOPER', password: 'correct battery E1' }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({
      id: 'erin',
      role: 'DEVELOPER',
      has_password: true,
      disabled: false,
    });
    const sneaky = await api('/api/users', {
      method: 'POST',
      body: JSON.stringify({ id: 'sam', role: 'VIEWER', permissions: ['user:manage'], disabled: false }),
    });
    expect(sneaky.status).toBe(400);
    expect(await server.prisma.user.count({ where: { id: 'sam' } })).toBe(0);
    expect(
      (await api('/api/users', { method: 'POST', body: JSON.stringify({ id: 'erin', role: 'VIEWER' }) }))
        .status,
    ).toBe(409);
  });

  it('a role change narrows existing keys at once and is audited with before and after', async () => {
    const erin = await keyOf('erin', 'correct battery E1');
    const submit = () =>
      api('/api/tasks', {
        method: 'POST',
        as: erin.bearer,
        body: JSON.stringify({ project: 'inbox', title: 'x' }),
      });
    expect((await submit()).status).toBe(201);
    const changed = await api('/api/users/erin', {
      method: 'PATCH',
      body: JSON.stringify({ role: 'VIEWER' }),
    });
    expect(changed.status).toBe(200);
    expect((await submit()).status).toBe(403);
    const row = await server.prisma.auditEvent.findFirst({
      where: { action: 'user.role', resourceId: 'erin' },
    });
    expect(row?.detail).toMatchObject({ role_from: 'DEVELOPER', role_to: 'VIEWER' });
  });

  it('disabling a user ends their sessions and keys on the next request', async () => {
    await api('/api/users', {
      method: 'POST',
      body: JSON.stringify({ id: 'finn', role: 'DEVELOPER', password: 'correct battery F2' }),
    });
    const finn = await keyOf('finn', 'correct battery F2');
    expect((await api('/api/auth/me', { as: finn.web })).status).toBe(200);
    expect(
      (await api('/api/users/finn', { method: 'PATCH', body: JSON.stringify({ disabled: true }) })).status,
    ).toBe(200);
    expect((await api('/api/auth/me', { as: finn.web })).status).toBe(401);
    expect((await api('/api/tasks', { as: finn.bearer })).status).toBe(401);
  });

  it('custom roles: created, assigned, used; built-in ones fixed; in-use ones kept', async () => {
    const put = await api('/api/roles/AUDITOR', {
      method: 'PUT',
      body: JSON.stringify({ description: 'reads the audit log', permissions: ['audit:view', 'task:view'] }),
    });
    expect(put.status).toBe(200);
    expect(
      (
        await api('/api/roles/AUDITOR', {
          method: 'PUT',
          body: JSON.stringify({ permissions: ['task:fly'] }),
        })
      ).status,
    ).toBe(400);
    expect(
      (await api('/api/roles/DEVELOPER', { method: 'PUT', body: JSON.stringify({ permissions: [] }) }))
        .status,
    ).toBe(409);
    await api('/api/users', {
      method: 'POST',
      body: JSON.stringify({ id: 'gus', role: 'AUDITOR', password: 'correct battery G3' }),
    });
    const gus = await keyOf('gus', 'correct battery G3');
    expect((await api('/api/audit/events', { as: gus.bearer })).status).toBe(200);
    expect(
      (
        await api('/api/tasks', {
          method: 'POST',
          as: gus.bearer,
          body: JSON.stringify({ project: 'inbox', title: 'x' }),
        })
      ).status,
    ).toBe(403);
    const roles = (await readJson(await api('/api/roles'))) as Array<{ name: string; users: number }>;
    expect(roles.find((r) => r.name === 'AUDITOR')?.users).toBe(1);
    expect((await api('/api/roles/AUDITOR', { method: 'DELETE' })).status).toBe(409);
    expect((await api('/api/roles/ADMIN', { method: 'DELETE' })).status).toBe(409);
  });

  it('keeps one enabled ADMIN', async () => {
    const res = await api('/api/users/admin', { method: 'PATCH', body: JSON.stringify({ role: 'VIEWER' }) });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { message: string }).message).toMatch(/last enabled ADMIN/);
  });
});
