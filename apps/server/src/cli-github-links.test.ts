import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase, type TestDatabase, uniquePrefix } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, killAllCli, runCli, STACK_LINE } from './test-support/run-cli.ts';

describe('clawlink user github and project github', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let env: NodeJS.ProcessEnv;

  const settingsOf = async (slug: string) =>
    (await prisma.project.findUniqueOrThrow({ where: { slug } })).settings;
  const refused = async (args: string[], message: RegExp) => {
    const res = await runCli(args, env);
    expect(res.code, res.text).toBe(1);
    expect(res.stderr).toMatch(message);
    expect(res.stderr).not.toMatch(STACK_LINE);
    expect(res.stdout).toBe('');
  };

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 2 });
    env = cliEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn', QUEUE_NAME: uniquePrefix('cli-github') });
    expect((await runCli(['user', 'add', 'bob', '--role', 'DEVELOPER'], env)).code).toBe(0);
    expect((await runCli(['user', 'add', 'amy', '--role', 'DEVELOPER'], env)).code).toBe(0);
    await prisma.project.create({ data: { slug: 'shop', name: 'Shop', settings: { max_turns: 7 } } });
  });
  afterAll(async () => {
    await killAllCli();
    await prisma?.$disconnect();
    await db?.drop();
  });

  it('user github links a login lower-cased, audited as the operator', async () => {
    const res = await runCli(['user', 'github', 'bob', 'Bob-Hub'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe("user 'bob' is linked to GitHub login 'bob-hub'\n");
    expect((await prisma.user.findUniqueOrThrow({ where: { id: 'bob' } })).githubLogin).toBe('bob-hub');
    const row = await prisma.auditEvent.findFirstOrThrow({
      where: { action: 'user.update', resourceId: 'bob' },
    });
    expect(row).toMatchObject({
      actorUserId: 'system',
      outcome: 'ALLOWED',
      detail: { fields: ['github_login'], github_login_from: null, github_login_to: 'bob-hub' },
    });
  });

  it('user github refuses a login linked to another user, and one GitHub would not allow', async () => {
    await refused(
      ['user', 'github', 'amy', 'BOB-hub'],
      /GitHub login 'bob-hub' is already linked to user 'bob'/,
    );
    await refused(
      ['user', 'github', 'amy', 'no--double'],
      /GitHub login 'no--double' must be a GitHub login/,
    );
    await refused(['user', 'github', 'amy'], /give the user's GitHub login, or --clear/);
    await refused(['user', 'github', 'nobody', 'someone'], /user 'nobody' not found/);
    expect((await prisma.user.findUniqueOrThrow({ where: { id: 'amy' } })).githubLogin).toBeNull();
  });

  it("user github --clear (or '-') unlinks", async () => {
    const res = await runCli(['user', 'github', 'bob', '--clear'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe("user 'bob' has no GitHub login\n");
    expect((await prisma.user.findUniqueOrThrow({ where: { id: 'bob' } })).githubLogin).toBeNull();
    expect((await runCli(['user', 'github', 'amy', 'amy-gh'], env)).code).toBe(0);
    const dash = await runCli(['user', 'github', 'amy', '-'], env);
    expect(dash.code, dash.text).toBe(0);
    expect((await prisma.user.findUniqueOrThrow({ where: { id: 'amy' } })).githubLogin).toBeNull();
  });

  it("project github links the repository with its options and keeps the project's other settings", async () => {
    const res = await runCli(
      [
        'project',
        'github',
        'shop',
        'acme/shop',
        '--base',
        'develop',
        '--pull-requests',
        'approve',
        '--draft',
        '--fix-ci',
        '3',
      ],
      env,
    );
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe(
      "project 'shop' is linked to acme/shop (base develop, pull requests approve, drafts, fix CI (up to 3 attempts))\n",
    );
    expect(await settingsOf('shop')).toEqual({
      max_turns: 7,
      github: {
        repo: 'acme/shop',
        base: 'develop',
        pull_requests: 'approve',
        draft: true,
        fix_ci: true,
        fix_ci_attempts: 3,
      },
    });
    const row = await prisma.auditEvent.findFirstOrThrow({
      where: { action: 'project.update' },
      orderBy: { id: 'desc' },
    });
    expect(row).toMatchObject({ actorUserId: 'system', detail: { slug: 'shop', fields: ['settings'] } });
  });

  it('project github again replaces the link; --fix-ci alone takes the default attempts', async () => {
    const res = await runCli(['project', 'github', 'shop', 'acme/shop-v2', '--fix-ci'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe("project 'shop' is linked to acme/shop-v2 (fix CI)\n");
    expect(await settingsOf('shop')).toEqual({
      max_turns: 7,
      github: { repo: 'acme/shop-v2', fix_ci: true },
    });
  });

  it('project github refuses bad input, naming the option, and an unknown project', async () => {
    await refused(['project', 'github', 'shop', 'not-a-repo'], /owner\/name: repo must be owner\/name/);
    await refused(['project', 'github', 'shop', 'acme/shop', '--fix-ci', '11'], /--fix-ci: /);
    await refused(
      ['project', 'github', 'shop', 'acme/shop', '--fix-ci', 'many'],
      /--fix-ci 'many' must be a number/,
    );
    await refused(
      ['project', 'github', 'shop', 'acme/shop', '--base', 'a b'],
      /--base: base must be a branch name/,
    );
    await refused(['project', 'github', 'shop'], /give the repository as owner\/name, or --unlink/);
    await refused(['project', 'github', 'shop', 'acme/shop', '--unlink'], /--unlink takes no repository/);
    await refused(['project', 'github', 'nope', 'acme/nope'], /project 'nope' not found/);
    const choices = await runCli(
      ['project', 'github', 'shop', 'acme/shop', '--pull-requests', 'sometimes'],
      env,
    );
    expect(choices.code, choices.text).not.toBe(0);
    expect(choices.stderr).toMatch(/Allowed choices are auto, approve, off/);
    expect((await settingsOf('shop')) as { github: unknown }).toMatchObject({
      github: { repo: 'acme/shop-v2' },
    });
  });

  it('project github --unlink removes the link only', async () => {
    const res = await runCli(['project', 'github', 'shop', '--unlink'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe("project 'shop' is not linked to GitHub\n");
    expect(await settingsOf('shop')).toEqual({ max_turns: 7 });
  });
});
