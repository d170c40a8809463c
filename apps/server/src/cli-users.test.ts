import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase, type TestDatabase, testRedisUrl, uniquePrefix } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, killAllCli, runCli, STACK_LINE } from './test-support/run-cli.ts';

const ROLES = ['ADMIN', 'MANAGER', 'DEVELOPER', 'VIEWER'];

/** `user list` lines → id → { role, name }. */
function parseUserList(stdout: string): Map<string, { role: string; name: string }> {
  const users = new Map<string, { role: string; name: string }>();
  for (const line of stdout.split('\n')) {
    const match = /^(\S+)\s+(\S+)\s*(.*)$/.exec(line.trimEnd());
    if (match) users.set(match[1] as string, { role: match[2] as string, name: match[3] ?? '' });
  }
  return users;
}

describe('clawlink user, migrate and config errors (DATABASE_URL)', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let env: NodeJS.ProcessEnv;

  const auditRows = (resourceId: string) =>
    prisma.auditEvent.findMany({ where: { action: 'user.upsert', resourceId }, orderBy: { id: 'asc' } });

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 2 });
    env = cliEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn', QUEUE_NAME: uniquePrefix('cli-users') });
  });
  afterAll(async () => {
    await killAllCli();
    await prisma?.$disconnect();
    await db?.drop();
  });

  it('user add creates bob with role DEVELOPER and audits it', async () => {
    const res = await runCli(['user', 'add', 'bob', '--role', 'DEVELOPER', '--name', 'Bob B'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe("user 'bob' has role DEVELOPER\n");
    expect(res.stderr, res.text).toBe('');

    expect(await prisma.user.findUnique({ where: { id: 'bob' } })).toMatchObject({
      id: 'bob',
      name: 'Bob B',
      roleName: 'DEVELOPER',
    });
    const audit = await auditRows('bob');
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({
      actorUserId: 'system',
      resourceType: 'user',
      outcome: 'ALLOWED',
      detail: { role: 'DEVELOPER', via: 'cli' },
    });
  });

  it('user list shows bob, the built-in local user and their roles', async () => {
    const res = await runCli(['user', 'list'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stderr, res.text).toBe('');
    const users = parseUserList(res.stdout);
    expect(users.get('bob'), res.text).toEqual({ role: 'DEVELOPER', name: 'Bob B' });
    expect(users.get('local'), res.text).toEqual({ role: 'DEVELOPER', name: 'Local developer' });
  });

  it('user add on an existing user changes its role, case-insensitively, keeping its name', async () => {
    const res = await runCli(['user', 'add', 'bob', '--role', 'manager'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe("user 'bob' has role MANAGER\n");

    const list = await runCli(['user', 'list'], env);
    expect(list.code, list.text).toBe(0);
    expect(parseUserList(list.stdout).get('bob'), list.text).toEqual({ role: 'MANAGER', name: 'Bob B' });

    const audit = await auditRows('bob');
    expect(audit.map((row) => (row.detail as { role: string }).role)).toEqual(['DEVELOPER', 'MANAGER']);
  });

  it('refuses an unknown role, listing the roles, without a stack trace', async () => {
    const res = await runCli(['user', 'add', 'eve', '--role', 'boss'], env);
    expect(res.code, res.text).not.toBe(0);
    expect(res.stderr).toContain("unknown role 'boss'");
    for (const role of ROLES) expect(res.stderr).toContain(role);
    expect(res.stderr).not.toMatch(STACK_LINE);
    expect(res.stdout).toBe('');
    expect(await prisma.user.findUnique({ where: { id: 'eve' } })).toBeNull();
    expect(await auditRows('eve')).toEqual([]);
  });

  it('refuses an invalid user id clearly, without a stack trace', async () => {
    const res = await runCli(['user', 'add', 'bad id!', '--role', 'VIEWER'], env);
    expect(res.code, res.text).not.toBe(0);
    expect(res.stderr).toMatch(/user id 'bad id!' must be 1-128 letters, digits/);
    expect(res.stderr).not.toMatch(STACK_LINE);
    expect(res.stdout).toBe('');
    expect(await prisma.user.count({ where: { id: 'bad id!' } })).toBe(0);
    expect(await auditRows('bad id!')).toEqual([]);
  });

  it('user add without --role says the option is required', async () => {
    const res = await runCli(['user', 'add', 'zed'], env);
    expect(res.code, res.text).not.toBe(0);
    expect(res.stderr).toMatch(/required option '--role <role>' not specified/);
    expect(await prisma.user.count({ where: { id: 'zed' } })).toBe(0);
  });

  it('migrate on the migrated database says it is up to date', async () => {
    const res = await runCli(['migrate'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe('database is up to date\n');
    expect(res.stderr, res.text).toBe('');
  });

  it.each(['user list', 'user add pat --role VIEWER', 'migrate'])(
    'a bad PORT makes `%s` exit non-zero naming PORT, without a stack trace',
    async (command) => {
      const res = await runCli(command.split(' '), { ...env, PORT: 'notaport' });
      expect(res.code, res.text).not.toBe(0);
      expect(res.stderr).toMatch(/invalid configuration/);
      expect(res.stderr).toMatch(/^\s*PORT: /m);
      expect(res.stderr).not.toMatch(STACK_LINE);
      expect(res.stdout).toBe('');
      expect(await prisma.user.count({ where: { id: 'pat' } })).toBe(0);
    },
  );

  it('doctor reports the bad PORT as a failed config check and exits 1', async () => {
    const res = await runCli(['doctor'], { ...env, PORT: 'notaport' });
    expect(res.code, res.text).toBe(1);
    expect(res.stdout).toMatch(/^FAIL\s+config\s+invalid configuration:/m);
    expect(res.stdout).toMatch(/^\s*PORT: /m);
    expect(res.stdout + res.stderr).not.toMatch(STACK_LINE);
  });

  it('doctor passes against DATABASE_URL with the Postgres queue backend', async () => {
    const res = await runCli(['doctor'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toMatch(/^ ok \s+config\s+listening on 127\.0\.0\.1:8000/m);
    expect(res.stdout).toMatch(/^ ok \s+database\s+DATABASE_URL reachable$/m);
    expect(res.stdout).toMatch(/^ ok \s+queue\s+BullMQ Postgres backend/m);
  });

  it('doctor passes with REDIS_URL and names the Redis backend', async () => {
    const res = await runCli(['doctor'], { ...env, REDIS_URL: testRedisUrl() });
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toMatch(/^ ok \s+queue\s+Redis reachable/m);
  });
});

describe('clawlink with an unreachable DATABASE_URL', () => {
  const env = cliEnv({
    DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/x',
    LOG_LEVEL: 'warn',
    QUEUE_NAME: uniquePrefix('cli-closed'),
  });
  afterAll(killAllCli);

  it('user list exits 1 with the connection error in one line', async () => {
    const res = await runCli(['user', 'list'], env);
    expect(res.code, res.text).toBe(1);
    expect(res.stderr).toMatch(/^clawlink: .*ECONNREFUSED 127\.0\.0\.1:1/);
    expect(res.stderr).not.toMatch(STACK_LINE);
  });

  // KNOWN BUG (see the report): doctor.ts reports "database DATABASE_URL reachable" without
  // connecting, because openDatabase() returns an external DATABASE_URL unchecked; only the queue
  // check then fails. Turn `it.fails` into `it` once doctor really opens the database.
  it('doctor exits 1 and says in plain words that the database cannot be opened', async () => {
    const res = await runCli(['doctor'], env);
    expect(res.code, res.text).toBe(1);
    expect(res.stdout + res.stderr).not.toMatch(STACK_LINE);
    expect(res.stdout, res.text).not.toMatch(/DATABASE_URL reachable/);
    expect(res.stdout, res.text).toMatch(/^FAIL\s+database\s+cannot open: .*127\.0\.0\.1:1\b/m);
  });
});
