import { createApiKey, makeCtx, PERMISSIONS } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

/** Two teams, two members-only projects: nobody reaches the other team's objects, not even by id. */
describe('members-only projects (IDOR across two projects)', () => {
  let server: TestServer;
  const as: Record<string, Record<string, string>> = {};
  const ids: Record<string, { task: string; execution: string }> = {};

  const call = (who: string, path: string, init: RequestInit = {}) =>
    fetch(`${server.url}${path}`, {
      ...init,
      headers: { ...(init.body ? { 'content-type': 'application/json' } : {}), ...as[who] },
    });

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    as.admin = { authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}` };
    const operator = makeCtx({
      userId: 'system',
      roleName: 'SYSTEM',
      permissions: [...PERMISSIONS],
      via: 'system',
    });
    for (const user of ['ann', 'ben']) {
      await server.addUser(user, 'DEVELOPER');
      const { key } = await createApiKey(server.deps, operator, { userId: user, name: 'test' });
      as[user] = { authorization: `Bearer ${key}` };
    }
    for (const [slug, member] of [
      ['alpha', 'ann'],
      ['beta', 'ben'],
    ] as const) {
      expect(
        (await call('admin', '/api/projects', { method: 'POST', body: JSON.stringify({ slug }) })).status,
      ).toBe(201);
      expect((await call('admin', `/api/projects/${slug}/members/${member}`, { method: 'PUT' })).status).toBe(
        200,
      );
    }
    for (const [who, slug] of [
      ['ann', 'alpha'],
      ['ben', 'beta'],
    ] as const) {
      const task = await readJson(
        await call(who, '/api/tasks', {
          method: 'POST',
          body: JSON.stringify({ project: slug, title: `${slug} card`, prompt: 'hi', agent_type: 'echo' }),
        }),
      );
      ids[slug] = { task: task.id as string, execution: (task.latest_execution as { id: string }).id };
    }
    await waitFor(async () => {
      const done = await server.prisma.execution.count({ where: { state: 'COMPLETED' } });
      return done === 2;
    });
  });
  afterAll(async () => server?.stop());

  it("answers 404 for every route that names the other team's objects", async () => {
    const { task, execution } = ids.alpha as { task: string; execution: string };
    const probes: Array<[string, string, unknown?]> = [
      ['GET', `/api/tasks/${task}`],
      ['PATCH', `/api/tasks/${task}`, { column: 'done' }],
      ['GET', `/api/tasks/${task}/executions`],
      ['POST', `/api/tasks/${task}/executions`, { prompt: 'again', agent_type: 'echo' }],
      ['GET', `/api/executions/${execution}`],
      ['GET', `/api/executions/${execution}/events`],
      ['POST', `/api/executions/${execution}/cancel`],
      ['POST', `/api/executions/${execution}/approve`, {}],
      ['GET', `/api/runtime/tasks/${task}/state`],
      ['POST', '/api/tasks', { project: 'alpha', title: 'sneak in' }],
      ['GET', '/api/projects/alpha/assignees'],
    ];
    const before = await server.prisma.task.count();
    for (const [method, path, body] of probes) {
      const res = await call('ben', path, { method, ...(body ? { body: JSON.stringify(body) } : {}) });
      expect(res.status, `${method} ${path}`).toBe(404);
    }
    expect(await server.prisma.task.count()).toBe(before);
    expect((await server.prisma.task.findUniqueOrThrow({ where: { id: task } })).column).not.toBe('done');
    // The owner and the admin still reach it.
    expect((await call('ann', `/api/tasks/${task}`)).status).toBe(200);
    expect((await call('admin', `/api/tasks/${task}`)).status).toBe(200);
  });

  it('lists only what the caller reaches', async () => {
    const titles = async (who: string) =>
      ((await readJson(await call(who, '/api/tasks'))).items as Array<{ title: string }>)
        .map((t) => t.title)
        .sort();
    expect(await titles('ann')).toEqual(['alpha card']);
    expect(await titles('ben')).toEqual(['beta card']);
    expect(await titles('admin')).toEqual(['alpha card', 'beta card']);
    const slugs = async (who: string) =>
      ((await readJson(await call(who, '/api/projects'))) as Array<{ slug: string }>)
        .map((p) => p.slug)
        .sort();
    expect(await slugs('ben')).not.toContain('alpha');
    expect(await slugs('admin')).toEqual(expect.arrayContaining(['alpha', 'beta']));
    // A project filter cannot widen the reach.
    expect((await readJson(await call('ben', '/api/tasks?project=alpha'))).items).toEqual([]);
  });

  it("streams only the caller's projects on the board", async () => {
    const abort = new AbortController();
    const res = await fetch(`${server.url}/api/board/events`, { headers: as.ben, signal: abort.signal });
    const reader = res.body?.getReader();
    let text = '';
    const reading = (async () => {
      const decoder = new TextDecoder();
      for (;;) {
        const chunk = await reader?.read().catch(() => ({ done: true, value: undefined }));
        if (!chunk || chunk.done) return;
        text += decoder.decode(chunk.value, { stream: true });
      }
    })();
    for (const who of ['ann', 'ben']) {
      const slug = who === 'ann' ? 'alpha' : 'beta';
      await call(who, `/api/tasks/${ids[slug]?.task}/executions`, {
        method: 'POST',
        body: JSON.stringify({ prompt: 'again', agent_type: 'echo' }),
      });
    }
    await waitFor(async () => text.includes(ids.beta?.task ?? '?') && text.includes('COMPLETED'));
    await new Promise((r) => setTimeout(r, 300));
    abort.abort();
    await reading;
    expect(text).toContain(ids.beta?.task);
    expect(text).not.toContain(ids.alpha?.task);
  });

  it('a member removed loses the project; with no members left it is team-wide again', async () => {
    await call('admin', '/api/projects/alpha/members/ben', { method: 'PUT' });
    expect((await call('ben', `/api/tasks/${ids.alpha?.task}`)).status).toBe(200);
    await call('admin', '/api/projects/alpha/members/ben', { method: 'DELETE' });
    expect((await call('ben', `/api/tasks/${ids.alpha?.task}`)).status).toBe(404);
    await call('admin', '/api/projects/alpha/members/ann', { method: 'DELETE' });
    expect((await call('ben', `/api/tasks/${ids.alpha?.task}`)).status).toBe(200);
    const audited = await server.prisma.auditEvent.count({
      where: { action: { startsWith: 'project.member' } },
    });
    expect(audited).toBe(5);
  });
});
