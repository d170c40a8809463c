import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support/test-server.ts';

/**
 * Issue 17, item 8: a team server bound to loopback (behind a reverse proxy, say) took local
 * repository paths (`./.git`, any path on the server's disk) because the default followed the
 * bind address. In team mode they are refused unless ALLOW_LOCAL_REPOS=true. No worker runs,
 * so nothing is cloned either way.
 */
describe('local repository paths on a team server bound to loopback', () => {
  let team: TestServer;
  let allowed: TestServer;
  const admin = (server: TestServer) => ({
    'content-type': 'application/json',
    authorization: `Bearer ${/token: (ccl_\S+)/.exec(server.output())?.[1] ?? ''}`,
  });
  const createTask = (server: TestServer, repo: string) =>
    fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: admin(server),
      body: JSON.stringify({ title: 'local', prompt: 'hi', agent_type: 'echo', context: { repo } }),
    });

  beforeAll(async () => {
    team = await startTestServer({ backend: 'postgres', role: 'api', env: { AUTH_MODE: 'team' } });
    allowed = await startTestServer({
      backend: 'postgres',
      role: 'api',
      env: { AUTH_MODE: 'team', ALLOW_LOCAL_REPOS: 'true' },
    });
  });
  afterAll(async () => {
    await team?.stop();
    await allowed?.stop();
  });

  it.each(['./.git', '/etc', 'file:///srv/repos/app'])(
    'refuses %s in team mode by default, creating nothing',
    async (repo) => {
      const before = await team.prisma.task.count();
      const res = await createTask(team, repo);
      expect(res.status).toBe(400);
      expect(((await res.json()) as { message: string }).message).toMatch(
        /local repository paths are not allowed.*ALLOW_LOCAL_REPOS=true/,
      );
      expect(await team.prisma.task.count()).toBe(before);
      const project = await fetch(`${team.url}/api/projects`, {
        method: 'POST',
        headers: admin(team),
        body: JSON.stringify({ slug: 'local-path', settings: { repo } }),
      });
      expect(project.status).toBe(400);
    },
  );

  it('takes them when the admin sets ALLOW_LOCAL_REPOS=true', async () => {
    expect((await createTask(allowed, './.git')).status).toBe(201);
  });
});
