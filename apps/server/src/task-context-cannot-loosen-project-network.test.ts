import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

describe("a project's network setting is a ceiling for its tasks", () => {
  let server: TestServer;
  let admin: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    admin = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  });
  afterAll(() => server?.stop());

  const contextOf = async (taskId: string) =>
    (await server.prisma.execution.findFirstOrThrow({ where: { taskId } })).context;

  it('validates the setting, and a task asking for open network under an allowlist gets the allowlist', async () => {
    const bad = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ slug: 'netp', settings: { network: 'everything', network_allow: ['a b'] } }),
    });
    expect(bad.status).toBe(400);
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        slug: 'netp',
        settings: { network: 'allowlist', network_allow: ['registry.npmjs.org', '*.github.com'] },
      }),
    });
    expect(created.status).toBe(201);
    expect((await readJson(created)).settings).toMatchObject({ network: 'allowlist' });

    const client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
    const loose = await client.submit('echo', 'reach everything', {
      project: 'netp',
      network: 'open',
      network_allow: ['evil.example', 'api.github.com'],
    });
    expect(await contextOf(String(loose.task_id))).toMatchObject({
      network: 'allowlist',
      network_allow: ['api.github.com'],
    });
    const inbox = await client.submit('echo', 'no project settings', { network: 'open' });
    expect(await contextOf(String(inbox.task_id))).toMatchObject({ network: 'none' });
    await expect(client.submit('echo', 'bad', { network: 'sideways' })).rejects.toThrow(/network/);
  });
});
