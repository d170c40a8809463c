import { createApiKey, FIRST_ADMIN_ID, makeCtx, PERMISSIONS } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

describe('per-project board columns and task assignees', () => {
  let server: TestServer;
  const as: Record<string, Record<string, string>> = { local: {} };

  const call = async (who: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...as[who] },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: await readJson(res) };
  };

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    as.admin = { authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}` };
    const operator = makeCtx({
      userId: 'system',
      roleName: 'SYSTEM',
      permissions: [...PERMISSIONS],
      via: 'system',
    });
    for (const user of ['ann', 'bob', 'carl']) {
      await server.addUser(user, 'DEVELOPER');
      const { key } = await createApiKey(server.deps, operator, { userId: user, name: 'test' });
      as[user] = { authorization: `Bearer ${key}` };
    }
    await server.prisma.user.update({ where: { id: 'carl' }, data: { disabled: true } });
  });
  afterAll(async () => server?.stop());

  describe('columns in project settings', () => {
    const patch = (columns: unknown) =>
      call('admin', 'PATCH', '/api/projects/cols', { settings: { columns } });

    beforeAll(async () => {
      expect((await call('admin', 'POST', '/api/projects', { slug: 'cols' })).status).toBe(201);
    });

    it('stores an ordered subset of the five columns with optional labels', async () => {
      const columns = [
        { key: 'todo', label: 'Ready' },
        { key: 'in_progress' },
        { key: 'done', label: 'Shipped' },
      ];
      const res = await patch(columns);
      expect(res.status).toBe(200);
      expect(res.body.settings).toEqual({ columns });
      const listed = (await call('admin', 'GET', '/api/projects')).body.find((p: Json) => p.slug === 'cols');
      expect(listed.settings.columns).toEqual(columns);
    });

    it.each([
      ['an unknown column', [{ key: 'qa' }], /columns/],
      ['a column twice', [{ key: 'todo' }, { key: 'todo' }], /'todo' is listed twice/],
      ['columns out of order', [{ key: 'done' }, { key: 'todo' }], /'todo' is out of order/],
      ['no column at all', [], /at least one column/],
      ['an unknown field', [{ key: 'todo', colour: 'red' }], /colour/],
      ['an empty label', [{ key: 'todo', label: '  ' }], /label/],
      ['a label over 40 characters', [{ key: 'todo', label: 'x'.repeat(41) }], /label/],
      ['something other than a list', { todo: 'Ready' }, /columns/],
    ])(
      'refuses %s with 400 naming the problem, keeping the old settings',
      async (_name, columns, message) => {
        const before = await server.prisma.project.findUniqueOrThrow({ where: { slug: 'cols' } });
        const res = await patch(columns);
        expect(res.status).toBe(400);
        expect(res.body.message).toMatch(message);
        const after = await server.prisma.project.findUniqueOrThrow({ where: { slug: 'cols' } });
        expect(after.settings).toEqual(before.settings);
      },
    );

    it('keeps the columns out of the context its runs get', async () => {
      const task = await call('local', 'POST', '/api/tasks', {
        project: 'cols',
        title: 'run me',
        prompt: 'hello',
        agent_type: 'echo',
      });
      expect(task.status).toBe(201);
      const execution = await server.prisma.execution.findUniqueOrThrow({
        where: { id: task.body.latest_execution.id },
      });
      expect(execution.context).not.toHaveProperty('columns');
      await waitFor(async () => {
        const e = await server.prisma.execution.findUnique({ where: { id: execution.id } });
        return e?.state === 'COMPLETED';
      });
    });
  });

  describe('assignee_id', () => {
    it('is set on create, changed and cleared on update, and each change is audited', async () => {
      const created = await call('local', 'POST', '/api/tasks', {
        project: 'team',
        title: 'assigned',
        assignee_id: 'ann',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ assignee_id: 'ann', creator_id: 'local' });
      const id = created.body.id as string;

      const moved = await call('local', 'PATCH', `/api/tasks/${id}`, { assignee_id: 'bob' });
      expect(moved.status).toBe(200);
      expect(moved.body.assignee_id).toBe('bob');
      expect((await call('local', 'GET', `/api/tasks/${id}`)).body.assignee_id).toBe('bob');
      const cleared = await call('local', 'PATCH', `/api/tasks/${id}`, { assignee_id: null });
      expect(cleared.body.assignee_id).toBeNull();
      const listed = (await call('local', 'GET', '/api/tasks?project=team')).body.items;
      expect(listed).toEqual([expect.objectContaining({ id, assignee_id: null })]);

      const audit = await server.prisma.auditEvent.findMany({
        where: { resourceId: id, action: { in: ['task.create', 'task.update'] } },
        orderBy: { seq: 'asc' },
      });
      expect(audit.map((a) => a.detail)).toEqual([
        expect.objectContaining({ assignee_id: 'ann' }),
        expect.objectContaining({ assignee: { from: 'ann', to: 'bob' } }),
        expect.objectContaining({ assignee: { from: 'bob', to: null } }),
      ]);
    });

    it('refuses an unknown or disabled user with 400 and changes nothing', async () => {
      const before = await server.prisma.task.count();
      const unknown = await call('local', 'POST', '/api/tasks', {
        project: 'team',
        title: 'nobody',
        assignee_id: 'nobody',
      });
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toMatch(/no user 'nobody'/);
      expect(await server.prisma.task.count()).toBe(before);

      const task = await call('local', 'POST', '/api/tasks', { project: 'team', title: 'keep ann' });
      await call('local', 'PATCH', `/api/tasks/${task.body.id}`, { assignee_id: 'ann' });
      const disabled = await call('local', 'PATCH', `/api/tasks/${task.body.id}`, { assignee_id: 'carl' });
      expect(disabled.status).toBe(400);
      expect(disabled.body.message).toMatch(/'carl' is disabled/);
      const typo = await call('local', 'PATCH', `/api/tasks/${task.body.id}`, { assignee_id: 'ghost' });
      expect(typo.status).toBe(400);
      expect((await call('local', 'GET', `/api/tasks/${task.body.id}`)).body.assignee_id).toBe('ann');
    });

    it('lists who can be assigned, and keeps members-only projects to their members', async () => {
      const team = await call('local', 'GET', '/api/projects/team/assignees');
      expect(team.status).toBe(200);
      const ids = team.body.map((u: Json) => u.id);
      expect(ids).toEqual(expect.arrayContaining(['ann', 'bob', 'local', FIRST_ADMIN_ID]));
      expect(ids).not.toContain('carl');
      expect(team.body.find((u: Json) => u.id === FIRST_ADMIN_ID)).toEqual({
        id: FIRST_ADMIN_ID,
        name: 'Administrator',
      });

      expect((await call('admin', 'POST', '/api/projects', { slug: 'closed' })).status).toBe(201);
      expect((await call('admin', 'PUT', '/api/projects/closed/members/ann')).status).toBe(200);
      const closed = await call('admin', 'GET', '/api/projects/closed/assignees');
      // Its member, and the admin, whose project:manage reaches every project.
      expect(closed.body.map((u: Json) => u.id).sort()).toEqual([FIRST_ADMIN_ID, 'ann'].sort());
      expect((await call('bob', 'GET', '/api/projects/closed/assignees')).status).toBe(404);

      const card = await call('ann', 'POST', '/api/tasks', { project: 'closed', title: 'secret card' });
      expect(card.status).toBe(201);
      const outsider = await call('ann', 'PATCH', `/api/tasks/${card.body.id}`, { assignee_id: 'bob' });
      expect(outsider.status).toBe(400);
      expect(outsider.body.message).toMatch(/'bob' is not a member/);
      expect((await call('bob', 'PATCH', `/api/tasks/${card.body.id}`, { assignee_id: 'bob' })).status).toBe(
        404,
      );
      const admin = await call('ann', 'PATCH', `/api/tasks/${card.body.id}`, { assignee_id: FIRST_ADMIN_ID });
      expect(admin.body.assignee_id).toBe(FIRST_ADMIN_ID);
    });
  });
});
