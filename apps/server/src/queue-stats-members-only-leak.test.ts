import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

/**
 * Issue 17, item 6: GET /api/queue/stats, open to any VIEWER, listed the task ids of every
 * project's active runs, members-only ones included; with an id, the credential-less state poll
 * then gave the task's result away. Every list and statistic counts only the caller's projects.
 * No worker runs: the submitted runs stay pending (active), which is what the stats list.
 */
describe('statistics of members-only projects', () => {
  let server: TestServer;
  const as: Record<string, Record<string, string>> = {};
  const ids: Record<string, { task: string; execution: string }> = {};
  const get = async (who: string, path: string) => {
    const res = await fetch(`${server.url}${path}`, { headers: as[who] });
    expect(res.status, `${who} ${path}`).toBe(200);
    return { text: await res.clone().text(), json: await readJson(res) };
  };

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', role: 'api', env: { AUTH_MODE: 'team' } });
    as.admin = {
      'content-type': 'application/json',
      authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}`,
    };
    for (const [user, role] of [
      ['ann', 'DEVELOPER'],
      ['vic', 'VIEWER'],
    ] as const) {
      const { key } = await server.addUserWithKey(user, role);
      as[user] = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
    }
    const post = (who: string, path: string, body?: unknown) =>
      fetch(`${server.url}${path}`, {
        method: body === undefined ? 'PUT' : 'POST',
        headers: as[who],
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    expect((await post('admin', '/api/projects', { slug: 'vault' })).status).toBe(201);
    expect((await post('admin', '/api/projects/vault/members/ann')).status).toBe(200);
    for (const [who, project] of [
      ['ann', 'vault'],
      ['admin', 'open'],
    ] as const) {
      const task = await readJson(
        await post(who, '/api/tasks', {
          project,
          title: `${project} card`,
          prompt: 'hi',
          agent_type: 'echo',
        }),
      );
      ids[project] = { task: task.id, execution: task.latest_execution.id };
    }
  });
  afterAll(async () => server?.stop());

  it('GET /api/queue/stats shows a VIEWER outside a members-only project none of its runs', async () => {
    const vault = ids.vault as { task: string; execution: string };
    const { text, json } = await get('vic', '/api/queue/stats');
    expect(text).not.toContain(vault.task);
    expect(text).not.toContain(vault.execution);
    expect(json.active_runs.map((r: { task_id: string }) => r.task_id)).toEqual([ids.open?.task]);
    expect(json.executions.pending).toBe(1);
    // The queue's own job counts and the workers' loads span every project: not for this caller.
    expect(json.queues).toEqual([]);
    expect(json.workers).toEqual([]);
    // A member, and someone who reaches every project, see both runs.
    for (const who of ['ann', 'admin']) {
      const all = (await get(who, '/api/queue/stats')).json;
      expect(all.active_runs.map((r: { task_id: string }) => r.task_id).sort(), who).toEqual(
        [ids.open?.task, vault.task].sort(),
      );
      expect(all.executions.pending, who).toBe(2);
    }
  });

  it('GET /api/agents/stats counts only the runs of projects the caller reaches', async () => {
    const runs = async (who: string) =>
      (
        (await get(who, '/api/agents/stats?days=7')).json.agents as Array<{
          agent_type: string;
          runs: number;
        }>
      )
        .filter((a) => a.agent_type === 'echo')
        .map((a) => a.runs);
    expect(await runs('vic')).toEqual([1]);
    expect(await runs('ann')).toEqual([2]);
    expect(await runs('admin')).toEqual([2]);
  });

  it('no other list a VIEWER reads names the members-only task', async () => {
    const vault = ids.vault as { task: string; execution: string };
    for (const path of ['/api/tasks', '/api/projects', '/api/tasks?project=vault']) {
      const { text } = await get('vic', path);
      expect(text, path).not.toContain(vault.task);
    }
  });
});
