import { createPrisma, type PrismaClient } from '@ccl/db';
import {
  createTestDatabase,
  type FakeTelegram,
  startFakeTelegram,
  type TestDatabase,
  uniquePrefix,
} from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, killAllCli, runCli, STACK_LINE } from './test-support/run-cli.ts';
import { botToken } from './test-support/telegram-fixture.ts';

describe('clawlink telegram and doctor with a bot', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let fake: FakeTelegram;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 2 });
    fake = await startFakeTelegram({ token: botToken() });
    env = cliEnv({
      DATABASE_URL: db.url,
      LOG_LEVEL: 'warn',
      QUEUE_NAME: uniquePrefix('cli-telegram'),
      TELEGRAM_BOT_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.url,
    });
    expect((await runCli(['user', 'add', 'bob', '--role', 'DEVELOPER'], env)).code).toBe(0);
  });
  afterAll(async () => {
    await killAllCli();
    await prisma?.$disconnect();
    await db?.drop();
    await fake?.close();
  });

  it('telegram link prints a single-use code and the deep link; unlink removes the link; both audited', async () => {
    const res = await runCli(['telegram', 'link', 'bob'], env);
    expect(res.code, res.text).toBe(0);
    const code = /^ {2}([A-Za-z0-9_-]{24})$/m.exec(res.stdout)?.[1];
    expect(code, res.stdout).toBeDefined();
    expect(res.stdout).toContain(`open https://t.me/${fake.bot.username}?start=${code} on the user's phone`);
    const row = await prisma.telegramLinkCode.findFirstOrThrow({ where: { userId: 'bob' } });
    // Only its hash is stored.
    expect(row.codeHash).not.toContain(code);
    expect(row.expiresAt.getTime() - Date.now()).toBeGreaterThan(9 * 60_000);
    await prisma.telegramLink.create({ data: { telegramUserId: 55n, userId: 'bob' } });
    const unlink = await runCli(['telegram', 'unlink', 'bob'], env);
    expect(unlink.stdout).toBe("user 'bob' is no longer linked to Telegram\n");
    expect(await prisma.telegramLink.count()).toBe(0);
    expect((await runCli(['telegram', 'unlink', 'bob'], env)).stdout).toBe(
      "user 'bob' was not linked to Telegram\n",
    );
    const actions = (
      await prisma.auditEvent.findMany({ where: { resourceId: 'bob' }, orderBy: { seq: 'asc' } })
    ).map((r) => `${r.action} ${r.actorUserId}`);
    expect(actions).toEqual(expect.arrayContaining(['telegram.link_code system', 'telegram.unlink system']));
  });

  it('telegram link refuses an unknown user in one line', async () => {
    const res = await runCli(['telegram', 'link', 'nobody'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/unknown user 'nobody'/);
    expect(res.stderr).not.toMatch(STACK_LINE);
  });

  it('doctor checks the token with getMe, and names a refused one without showing it', async () => {
    const ok = await runCli(['doctor'], env);
    expect(ok.stdout).toMatch(
      new RegExp(`^ ok \\s+telegram\\s+bot @${fake.bot.username} \\(long polling\\)$`, 'm'),
    );
    const wrong = `${fake.token.split(':')[0]}:AAwrongwrongwrongwrongwrongwrongwrong`;
    const bad = await runCli(['doctor'], { ...env, TELEGRAM_BOT_TOKEN: wrong });
    expect(bad.stdout).toMatch(
      /^FAIL\s+telegram\s+getMe failed: getMe: 401 Unauthorized; check TELEGRAM_BOT_TOKEN/m,
    );
    expect(bad.code).toBe(1);
    expect(bad.text).not.toContain(wrong.split(':')[1]);
    const down = await runCli(['doctor'], { ...env, TELEGRAM_API_ROOT: 'http://127.0.0.1:9' });
    expect(down.stdout).toMatch(/^FAIL\s+telegram\s+getMe failed: network: /m);
    expect(down.text).not.toContain(fake.token.split(':')[1]);
  }, 60_000);
});
