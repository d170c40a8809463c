import { addUser, setPassword } from '@ccl/core';
import { type FakeTelegram, startFakeTelegram } from '@ccl/testing';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { fitsWidth, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

const PASSWORD = 'correct horse battery staple';
const TG_USER = 777;
/** A token shaped like @BotFather's, given to both the fake and the server. */
const BOT_TOKEN = '123456:AAfake-token-for-the-board-0000000';

async function signIn(page: Page, userId: string, password: string) {
  await page.getByLabel('User id').fill(userId);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Axe-clean, and no sideways scrolling at a phone's width; the screenshots are for a person to look at. */
async function checkScreen(page: Page, name: string) {
  expect(await seriousViolations(page), name).toEqual([]);
  await screenshot(page, name);
  await page.setViewportSize({ width: 375, height: 800 });
  expect(await fitsWidth(page), `${name} fits 375 px`).toBe(true);
  await screenshot(page, `${name}-375`);
  await page.setViewportSize({ width: 1280, height: 900 });
}

describe('My account → Telegram, against a fake Bot API', () => {
  let server: TestServer;
  let browser: Browser;
  let fake: FakeTelegram;

  beforeAll(async () => {
    browser = await launchBrowser();
    fake = await startFakeTelegram({ token: BOT_TOKEN });
    server = await startTestServer({
      backend: 'postgres',
      env: {
        AUTH_MODE: 'team',
        TELEGRAM_BOT_TOKEN: fake.token,
        TELEGRAM_API_ROOT: fake.url,
        TELEGRAM_CHAT_INTERVAL_MS: '0',
      },
    });
    const deps = { prisma: server.prisma, audit: server.deps.audit };
    await addUser(deps, { id: 'alice', role: 'DEVELOPER', name: 'Alice' });
    await setPassword(deps, { userId: 'alice', password: PASSWORD });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await fake?.close();
  });

  it('links the Telegram account that sends the code, shows it, and unlinks it', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login');
    await signIn(page, 'alice', PASSWORD);
    await page.getByText('No tasks here yet.').waitFor();

    // The account page is one click away in the user menu.
    const menu = page.getByTestId('user-menu');
    await menu.locator('summary').click();
    await menu.getByRole('link', { name: 'My account' }).click();
    await page.waitForURL('**/account');
    await page.getByRole('heading', { name: 'My account', level: 1 }).waitFor();
    expect(await page.title()).toBe('My account · CoderClawLink');

    const panel = page.getByTestId('telegram-panel');
    const status = panel.getByTestId('telegram-status');
    await status.waitFor();
    expect(await status.textContent()).toBe('Not linked.');
    expect(await panel.textContent()).toContain(`@${fake.bot.username}`);
    await checkScreen(page, 'account-telegram');

    await panel.getByRole('button', { name: 'Link Telegram' }).click();
    const command = panel.getByTestId('telegram-link-command');
    await command.waitFor();
    const text = (await command.textContent()) ?? '';
    const code = /^\/start (\S+)$/.exec(text)?.[1];
    expect(code, text).toBeTruthy();
    const deepLink = panel.getByTestId('telegram-deep-link');
    expect(await deepLink.getAttribute('href')).toBe(`https://t.me/${fake.bot.username}?start=${code}`);
    expect(await deepLink.textContent()).toContain('Open in Telegram');
    // Focus follows the vanished button to the first step.
    expect(await deepLink.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await panel.textContent()).toMatch(/valid for 10 more minutes, until /);
    expect(await status.textContent()).toBe('Not linked yet: waiting for you to send the code to the bot.');
    await checkScreen(page, 'account-telegram-code');

    // Before the code is sent, Check again says so.
    await panel.getByRole('button', { name: 'Check again' }).click();
    await panel.getByText(`Not linked yet: send the message to @${fake.bot.username} first`).waitFor();

    fake.userSays({ chat: TG_USER, from: { id: TG_USER, username: 'alice_tg' }, text: `/start ${code}` });
    const answer = await fake.waitForMessage(TG_USER, undefined, 15_000);
    expect(answer.text).toContain('now acts as alice');

    // The panel notices by itself while the code waits (or on Check again, a reload).
    await expect
      .poll(() => status.textContent(), { timeout: 15_000 })
      .toMatch(/^Linked to @alice_tg \(Telegram id 777\) since .+\.$/);
    expect(await panel.getByTestId('telegram-link-command').count()).toBe(0);
    await page.reload();
    await status.waitFor();
    expect(await status.textContent()).toMatch(/^Linked to @alice_tg \(Telegram id 777\) since /);
    const linked = (await (await page.request.get('/api/auth/telegram')).json()) as {
      linked: { telegram_user_id: string; username: string | null } | null;
    };
    expect(linked.linked).toMatchObject({ telegram_user_id: String(TG_USER), username: 'alice_tg' });
    await checkScreen(page, 'account-telegram-linked');

    await panel.getByRole('button', { name: 'Unlink Telegram account @alice_tg' }).click();
    await panel.getByRole('button', { name: 'Yes, unlink' }).click();
    await expect.poll(() => status.textContent()).toBe('Not linked.');
    await page.getByText('Telegram unlinked: the bot no longer acts as you.').waitFor();
    await panel.getByRole('button', { name: 'Link Telegram' }).waitFor();
    const after = (await (await page.request.get('/api/auth/telegram')).json()) as { linked: unknown };
    expect(after.linked).toBeNull();
    await context.close();
  });

  it('keeps the routes it sits next to: /account/x is not found, /admin/keys still answers', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login?next=%2Faccount%2Fx');
    await signIn(page, 'alice', PASSWORD);
    await page.getByRole('heading', { name: 'Not found' }).waitFor();
    await page.goto('/admin/keys');
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await context.close();
  });
});

describe('My account → Telegram on a server without a bot', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
    // Local mode: the loopback developer needs no sign-in.
    server = await startTestServer({ backend: 'postgres' });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('says there is no Telegram bot and how an admin turns it on', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/account');
    const status = page.getByTestId('telegram-status');
    await status.waitFor();
    expect(await status.textContent()).toBe('Not available: this server has no Telegram bot.');
    const panel = page.getByTestId('telegram-panel');
    expect(await panel.textContent()).toContain('TELEGRAM_BOT_TOKEN');
    expect(await panel.textContent()).toContain('docs/telegram.md');
    expect(await panel.getByRole('button', { name: 'Link Telegram' }).count()).toBe(0);
    await checkScreen(page, 'account-telegram-off');
    await context.close();
  });
});
