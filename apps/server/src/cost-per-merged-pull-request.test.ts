import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedPullRequestCard } from './test-support/pull-request-cards.ts';
import { type Json, readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

/**
 * GET /api/agents/stats: pull requests opened and merged per runtime and per project, and the cost
 * of a merged one: every run of a card with a merged pull request (follow-ups included) divided by
 * the merged pull requests. Only projects the caller reaches count.
 */
describe('pull request figures in the agent stats', () => {
  let server: TestServer;
  const as: Record<string, Record<string, string>> = {};
  const stats = async (who: string, days = 30) => {
    const res = await fetch(`${server.url}/api/agents/stats?days=${days}`, { headers: as[who] });
    expect(res.status, who).toBe(200);
    return { text: await res.clone().text(), body: await readJson(res) };
  };
  const agent = (body: Json, type: string) => body.agents.find((a: Json) => a.agent_type === type);
  const project = (body: Json, slug: string) => body.projects.find((p: Json) => p.project_slug === slug);

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', role: 'api', env: { AUTH_MODE: 'team' } });
    as.admin = { authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}` };
    for (const [user, role] of [
      ['ann', 'DEVELOPER'],
      ['vic', 'VIEWER'],
    ] as const) {
      const { key } = await server.addUserWithKey(user, role);
      as[user] = { authorization: `Bearer ${key}` };
    }
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: { ...as.admin, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'vault' }),
    });
    expect(created.status).toBe(201);
    const member = await fetch(`${server.url}/api/projects/vault/members/ann`, {
      method: 'PUT',
      headers: as.admin,
    });
    expect(member.status).toBe(200);

    const seed = seedPullRequestCard.bind(null, server.prisma);
    // Team-wide project "shop": three pull requests by claude runs, two merged.
    await seed({
      project: 'shop',
      title: 'merged after a follow-up',
      runs: [
        { agent: 'claude', cost: 0.3 },
        { agent: 'openai', cost: 0.2 },
      ],
      pr: { state: 'merged' },
    });
    await seed({
      project: 'shop',
      title: 'merged at once',
      runs: [{ agent: 'claude', cost: 0.1 }],
      pr: { state: 'merged' },
    });
    await seed({
      project: 'shop',
      title: 'still open',
      runs: [{ agent: 'claude', cost: 0.5 }],
      pr: { state: 'open' },
    });
    // Merged two months ago: outside the window, with its cost.
    await seed({
      project: 'shop',
      title: 'long ago',
      runs: [{ agent: 'claude', cost: 5 }],
      pr: { state: 'merged', createdAt: new Date(Date.now() - 60 * 86_400_000) },
    });
    // Members-only project "vault": one merged pull request by an openai run.
    await seed({
      project: 'vault',
      title: 'secret work',
      runs: [{ agent: 'openai', cost: 1 }],
      pr: { state: 'merged' },
    });
  });
  afterAll(async () => server?.stop());

  it('counts opened and merged pull requests per runtime, and the cost of the merged ones', async () => {
    const { body } = await stats('admin');
    // claude opened three in the window and two were merged; their cards cost 0.30 + 0.20 (a
    // follow-up on openai) + 0.10.
    expect(agent(body, 'claude')).toMatchObject({
      prs_opened: 3,
      prs_merged: 2,
      cost_usd_per_merged_pr: 0.3,
    });
    expect(agent(body, 'claude').merge_rate).toBe(2 / 3);
    // openai's own pull request is in vault; its follow-up on a claude card opened none.
    expect(agent(body, 'openai')).toMatchObject({
      prs_opened: 1,
      prs_merged: 1,
      merge_rate: 1,
      cost_usd_per_merged_pr: 1,
    });
    expect(project(body, 'shop')).toEqual({
      project_slug: 'shop',
      prs_opened: 3,
      prs_merged: 2,
      merge_rate: 2 / 3,
      cost_usd_per_merged_pr: 0.3,
    });
    expect(project(body, 'vault')).toEqual({
      project_slug: 'vault',
      prs_opened: 1,
      prs_merged: 1,
      merge_rate: 1,
      cost_usd_per_merged_pr: 1,
    });
  });

  it('a longer window takes the older pull request and its card in', async () => {
    const { body } = await stats('admin', 90);
    expect(project(body, 'shop')).toMatchObject({ prs_opened: 4, prs_merged: 3 });
    expect(project(body, 'shop').cost_usd_per_merged_pr).toBeCloseTo((0.3 + 0.2 + 0.1 + 5) / 3, 10);
  });

  it('leaves out the projects the caller does not reach', async () => {
    const vic = await stats('vic');
    expect(vic.body.projects.map((p: Json) => p.project_slug)).toEqual(['shop']);
    expect(vic.text).not.toContain('vault');
    expect(agent(vic.body, 'claude')).toMatchObject({
      prs_opened: 3,
      prs_merged: 2,
      cost_usd_per_merged_pr: 0.3,
    });
    // vault's pull request is openai's only one: for vic, openai opened none.
    expect(agent(vic.body, 'openai')).toMatchObject({
      runs: 1,
      prs_opened: 0,
      prs_merged: 0,
      merge_rate: null,
      cost_usd_per_merged_pr: null,
    });
    const ann = await stats('ann');
    expect(ann.body.projects.map((p: Json) => p.project_slug).sort()).toEqual(['shop', 'vault']);
  });

  it('a runtime without pull requests has no rates', async () => {
    await seedPullRequestCard(server.prisma, {
      project: 'shop',
      title: 'no pr',
      runs: [{ agent: 'echo', cost: 0 }],
    });
    const { body } = await stats('admin');
    expect(agent(body, 'echo')).toMatchObject({
      runs: 1,
      prs_opened: 0,
      prs_merged: 0,
      merge_rate: null,
      cost_usd_per_merged_pr: null,
    });
  });
});
