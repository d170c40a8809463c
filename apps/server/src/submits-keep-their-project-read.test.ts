import { randomBytes } from 'node:crypto';
import { addProjectMember, putProjectSecret, removeProjectMember } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorCtx } from './cli-support.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

// An API process keeps what submits read of a project (settings, secret names, members) until the
// database says the project changed (triggers → ccl_projects). Members decide who reaches the
// project: a change must never be missed, wherever it was made.
describe('submits keep their project read until it changes', () => {
  let server: TestServer;
  const keys: Record<string, string> = {};

  const submit = (who: string, body: Record<string, unknown>) =>
    fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys[who]}` },
      body: JSON.stringify({ project: 'kept', title: 'a card', prompt: 'hi', agent_type: 'echo', ...body }),
    });

  /** The max_cost_usd the submitted run took from its project's settings. */
  const costLimitOfNextRun = async () => {
    const res = await submit('ann', {});
    expect(res.status).toBe(201);
    const card = await readJson(res);
    const run = await server.prisma.execution.findUniqueOrThrow({ where: { id: card.latest_execution.id } });
    return (run.context as { max_cost_usd?: number }).max_cost_usd;
  };

  beforeAll(async () => {
    server = await startTestServer({
      backend: 'postgres',
      env: {
        AUTH_MODE: 'team',
        SECRETS_KEY: randomBytes(32).toString('base64'),
        // Nothing listens there: a claude run made possible by a project key fails at once.
        ANTHROPIC_BASE_URL: 'http://127.0.0.1:9',
      },
    });
    keys.admin = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    for (const user of ['ann', 'ben']) keys[user] = (await server.addUserWithKey(user, 'DEVELOPER')).key;
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keys.admin}` },
      body: JSON.stringify({ slug: 'kept', settings: { max_cost_usd: 1 } }),
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => server?.stop());

  it('reads the project once, and again after any change to it', async () => {
    expect(await costLimitOfNextRun()).toBe(1);
    // Changed with its notice switched off: the API still answers from what it kept.
    await server.prisma.$executeRawUnsafe('ALTER TABLE projects DISABLE TRIGGER projects_changed');
    await server.prisma.$executeRawUnsafe(
      `UPDATE projects SET settings = '{"max_cost_usd": 2}' WHERE slug = 'kept'`,
    );
    await server.prisma.$executeRawUnsafe('ALTER TABLE projects ENABLE TRIGGER projects_changed');
    expect(await costLimitOfNextRun()).toBe(1);
    // A hand-written UPDATE, as an operator might type it in psql: the trigger tells the API.
    await server.prisma.$executeRawUnsafe(
      `UPDATE projects SET settings = '{"max_cost_usd": 3}' WHERE slug = 'kept'`,
    );
    await waitFor(async () => (await costLimitOfNextRun()) === 3, 5_000, 20);
  });

  it('refuses at once a user the API itself took out of reach, and lets them back at once', async () => {
    const admin = { authorization: `Bearer ${keys.admin}` };
    const put = await fetch(`${server.url}/api/projects/kept/members/ben`, { method: 'PUT', headers: admin });
    expect(put.status).toBe(200);
    expect((await submit('ann', {})).status).toBe(404);
    expect((await submit('ben', {})).status).toBe(201);
    const del = await fetch(`${server.url}/api/projects/kept/members/ben`, {
      method: 'DELETE',
      headers: admin,
    });
    expect(del.status).toBe(200);
    expect((await submit('ann', {})).status).toBe(201);
  });

  it('hears members and secrets changed by another process (the CLI)', async () => {
    expect((await submit('ann', {})).status).toBe(201);
    await addProjectMember(server.deps, operatorCtx(), 'kept', 'ben');
    await waitFor(async () => (await submit('ann', {})).status === 404, 5_000, 20);
    await removeProjectMember(server.deps, operatorCtx(), 'kept', 'ben');
    await waitFor(async () => (await submit('ann', {})).status === 201, 5_000, 20);

    // Claude is not configured on this server: only a project's own key makes it available.
    const refused = await submit('ann', { agent_type: 'claude' });
    expect(refused.status).toBe(400);
    expect((await readJson(refused)).message).toMatch(/agent 'claude' is not available/);
    await putProjectSecret(server.deps, operatorCtx(), {
      slug: 'kept',
      name: 'ANTHROPIC_API_KEY',
      value: 'sk-x',
    });
    await waitFor(async () => (await submit('ann', { agent_type: 'claude' })).status === 201, 5_000, 20);
  });
});
