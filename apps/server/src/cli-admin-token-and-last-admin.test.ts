import { uniquePrefix } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, killAllCli, runCli } from './test-support/run-cli.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

const TOKEN = /ccl_[A-Za-z0-9_-]{32}/;

describe('the first administrator from the command line', () => {
  let server: TestServer;
  let env: NodeJS.ProcessEnv;
  const me = (token: string) =>
    fetch(`${server.url}/api/auth/me`, { headers: { authorization: `Bearer ${token}` } });

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    env = cliEnv({
      DATABASE_URL: server.databaseUrl,
      LOG_LEVEL: 'warn',
      QUEUE_NAME: uniquePrefix('cli-admin'),
    });
  });
  afterAll(async () => {
    await killAllCli();
    await server?.stop();
  });

  it("clawlink user token admin prints a new token once and the old one stops working (the first admin's token could not be rotated)", async () => {
    const first = TOKEN.exec(server.output())?.[0] as string;
    expect((await me(first)).status).toBe(200);

    const res = await runCli(['user', 'token', 'admin'], env);
    expect(res.code, res.text).toBe(0);
    const fresh = TOKEN.exec(res.stdout)?.[0] as string;
    expect(res.stdout).toBe(
      `new token for 'admin' (shown once; store it now; the previous one no longer works):\n  ${fresh}\n`,
    );
    expect(fresh).not.toBe(first);
    expect((await me(first)).status).toBe(401);
    const now = await me(fresh);
    expect(now.status).toBe(200);
    expect((await readJson(now)).user_id).toBe('admin');

    const audit = await server.prisma.auditEvent.findMany({
      where: { action: 'user.token', resourceId: 'admin' },
    });
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ actorUserId: 'system', outcome: 'ALLOWED' });
    expect(JSON.stringify(audit[0]?.detail)).not.toContain(fresh);

    const unknown = await runCli(['user', 'token', 'nobody'], env);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/user 'nobody' not found/);
  }, 60_000);

  it('clawlink user add refuses to demote the last ADMIN, as the API does (it demoted the only one)', async () => {
    const demote = await runCli(['user', 'add', 'admin', '--role', 'VIEWER'], env);
    expect(demote.code, demote.text).toBe(1);
    expect(demote.stderr).toMatch(/this is the last enabled ADMIN; make someone else ADMIN first/);
    expect((await server.prisma.user.findUniqueOrThrow({ where: { id: 'admin' } })).roleName).toBe('ADMIN');

    expect((await runCli(['user', 'add', 'ada', '--role', 'ADMIN'], env)).code).toBe(0);
    const now = await runCli(['user', 'add', 'admin', '--role', 'VIEWER'], env);
    expect(now.code, now.text).toBe(0);
    expect((await server.prisma.user.findUniqueOrThrow({ where: { id: 'admin' } })).roleName).toBe('VIEWER');
  }, 60_000);
});
