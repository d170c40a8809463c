import { randomBytes } from 'node:crypto';
import { addUser, setPassword } from '@ccl/core';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from '../../../server/src/test-support/coderclaw-client.ts';
import { startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { adminToken, fitsWidth, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

const PASSWORD = 'correct horse battery staple';
const SECRET_VALUE = `canary-${randomBytes(12).toString('hex')}`;

async function signIn(page: Page, userId: string, password: string) {
  await page.getByLabel('User id').fill(userId);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
}

/** Axe-clean, and usable at a phone's width without sideways scrolling; the screenshot is for a person to look at. */
async function checkScreen(page: Page, name: string) {
  expect(await seriousViolations(page), name).toEqual([]);
  await screenshot(page, name);
  await page.setViewportSize({ width: 375, height: 800 });
  const wide = await page.evaluate(() =>
    [...document.querySelectorAll('body *')]
      .filter((el) => el.getBoundingClientRect().right > window.innerWidth + 1)
      // Inside a scrolling box (a wide table's wrapper) is fine: only what widens the page counts.
      .filter((el) => {
        for (let p = el.parentElement; p; p = p.parentElement) {
          if (getComputedStyle(p).overflowX !== 'visible') return false;
        }
        return true;
      })
      .map((el) => `${el.tagName.toLowerCase()}.${el.className}`)
      .slice(0, 5),
  );
  expect(await fitsWidth(page), `${name} fits 375 px; too wide: ${wide.join(' ')}`).toBe(true);
  await screenshot(page, `${name}-375`);
  await page.setViewportSize({ width: 1280, height: 900 });
}

describe('sign-in and admin screens on a team server', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({
      backend: 'postgres',
      env: { AUTH_MODE: 'team', SECRETS_KEY: randomBytes(32).toString('base64') },
    });
    // The server's own deps: core's account functions write their audit rows through it.
    const deps = { prisma: server.prisma, audit: server.deps.audit };
    for (const [id, role] of [
      ['alice', 'ADMIN'],
      ['vic', 'VIEWER'],
    ] as const) {
      await addUser(deps, { id, role, ...(id === 'alice' ? { name: 'Alice Admin' } : {}) });
      await setPassword(deps, { userId: id, password: PASSWORD });
    }
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${adminToken(server.output())}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ slug: 'demo', name: 'Demo' }),
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('sends visitors to /login, explains a wrong password, signs in, and signs out', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/');
    await page.waitForURL('**/login');
    await page.getByRole('heading', { name: 'Sign in to CoderClawLink' }).waitFor();
    expect(await page.getByRole('navigation', { name: 'Main' }).count()).toBe(0);

    await signIn(page, 'alice', 'not the password');
    const error = page.getByRole('alert').filter({ hasText: 'Wrong user id or password' });
    await error.waitFor();
    await checkScreen(page, 'login');

    await signIn(page, 'alice', PASSWORD);
    await page.getByText('No tasks here yet.').waitFor();
    expect(new URL(page.url()).pathname).toBe('/');
    const menu = page.getByTestId('user-menu');
    expect(await menu.locator('summary').textContent()).toContain('Alice Admin (alice)');

    // A deep link survives the detour through the sign-in page.
    await menu.locator('summary').click();
    await menu.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/login');
    await page.goto('/admin/devices');
    await page.waitForURL('**/login?next=%2Fadmin%2Fdevices');
    await signIn(page, 'alice', PASSWORD);
    await page.getByRole('heading', { name: 'Devices', level: 1 }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/admin/devices');

    await page.getByTestId('user-menu').locator('summary').click();
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL('**/login');
    expect((await page.request.get('/api/auth/me')).status()).toBe(401);
    await page.goto('/');
    await page.waitForURL('**/login');
    await context.close();
  });

  it('hides what a viewer may not do', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login');
    await signIn(page, 'vic', PASSWORD);
    await page.getByText('No tasks here yet.').waitFor();
    const nav = page.getByRole('navigation', { name: 'Main' });
    expect(await nav.getByRole('link', { name: 'Board' }).count()).toBe(1);
    expect(await nav.getByRole('link', { name: 'New task' }).count()).toBe(0);
    expect(await nav.getByRole('link', { name: 'Audit' }).count()).toBe(0);
    expect(await page.getByRole('link', { name: 'New task' }).count()).toBe(0);
    await page.goto('/admin');
    const admin = page.getByRole('navigation', { name: 'Admin' });
    await admin.waitFor();
    expect(await admin.getByRole('link', { name: 'Users and roles' }).count()).toBe(0);
    expect(await admin.getByRole('link', { name: 'Projects' }).count()).toBe(0);
    await context.close();
  });

  it('creates an API key shown once, which works until it is revoked in the page', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login?next=%2Fadmin%2Fkeys');
    await signIn(page, 'alice', PASSWORD);
    await page.getByRole('heading', { name: 'API keys', level: 1 }).waitFor();
    await page.getByLabel('Name').fill('ci-bot');
    // A read-only key: every permission but the two it needs is unticked.
    const boxes = page.getByRole('group', { name: /Permissions/ }).getByRole('checkbox');
    for (const box of await boxes.all()) {
      const label = await box.evaluate((el) => el.parentElement?.textContent ?? '');
      if (label !== 'task:view' && label !== 'project:view') await box.uncheck();
    }
    await page.getByRole('button', { name: 'Create key' }).click();
    const shown = page.getByTestId('new-key');
    await shown.waitFor();
    expect(await shown.textContent()).toContain('only time it is shown');
    const key = await page.getByLabel('The new API key').inputValue();
    expect(key).toMatch(/^ccl_/);
    await checkScreen(page, 'admin-keys-created');

    const bearer = { authorization: `Bearer ${key}` };
    expect((await fetch(`${server.url}/api/tasks`, { headers: bearer })).status).toBe(200);
    const beyond = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: { ...bearer, 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'not-allowed' }),
    });
    expect(beyond.status).toBe(403);

    await page.getByRole('button', { name: 'I have stored it' }).click();
    await shown.waitFor({ state: 'detached' });
    expect(await page.content()).not.toContain(key);
    const row = page.locator('[data-testid="keys-table"] tbody tr', { hasText: 'ci-bot' });
    expect(await row.textContent()).toMatch(/task:view, project:view.*active until/);
    await row.getByRole('button', { name: 'Revoke key ci-bot' }).click();
    await row.getByRole('button', { name: 'Yes, revoke' }).click();
    await row.getByText(/^revoked /).waitFor();
    expect((await fetch(`${server.url}/api/tasks`, { headers: bearer })).status).toBe(401);
    await context.close();
  });

  it('sets project defaults and a secret whose value never comes back to the page', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login?next=%2Fadmin%2Fprojects');
    await signIn(page, 'alice', PASSWORD);
    const pick = page.getByLabel('Project', { exact: true });
    await pick.waitFor();
    expect(await pick.inputValue()).toBe('demo');
    await page.getByLabel('Branch, tag or commit').fill('main');
    await page.getByLabel('Approval mode').selectOption('commands');
    await page.getByLabel('Cost cap in USD').fill('2.5');
    await page.getByLabel('Model').fill('claude-test');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings of demo saved').waitFor();
    const projects = (await (await page.request.get('/api/projects')).json()) as Array<{
      slug: string;
      settings: unknown;
    }>;
    expect(projects.find((p) => p.slug === 'demo')?.settings).toEqual({
      ref: 'main',
      approval: 'commands',
      max_cost_usd: 2.5,
      model: 'claude-test',
    });

    await page.getByLabel('Name', { exact: true }).fill('deploy_token');
    await page.getByLabel('Value').fill(SECRET_VALUE);
    await page.getByRole('button', { name: 'Save secret' }).click();
    const row = page.locator('[data-secret="DEPLOY_TOKEN"]');
    await row.waitFor();
    expect(await page.getByLabel('Value').inputValue()).toBe('');
    expect(await page.content()).not.toContain(SECRET_VALUE);
    expect(await page.evaluate(() => document.documentElement.outerHTML)).not.toContain(SECRET_VALUE);

    // Replacing keeps one row; a reload still shows the name only.
    await row.getByRole('button', { name: 'Replace DEPLOY_TOKEN' }).click();
    expect(await page.getByLabel('Name', { exact: true }).inputValue()).toBe('DEPLOY_TOKEN');
    await page.getByLabel('Value').fill(`${SECRET_VALUE}-2`);
    await page.getByRole('button', { name: 'Save secret' }).click();
    await page.getByText('Secret DEPLOY_TOKEN replaced').waitFor();
    expect(await page.locator('[data-testid="secrets-table"] tbody tr').count()).toBe(1);
    await page.reload();
    await row.waitFor();
    expect(await page.content()).not.toContain(SECRET_VALUE);
    expect(await (await page.request.get('/api/projects/demo/secrets')).text()).not.toContain(SECRET_VALUE);
    await checkScreen(page, 'admin-projects');

    await row.getByRole('button', { name: 'Delete DEPLOY_TOKEN' }).click();
    await row.getByRole('button', { name: 'Yes, delete' }).click();
    await page.getByText('No secrets in this project.').waitFor();
    await context.close();
  });

  it('approves a CoderClaw device that asked to pair, from the page the 403 names', async () => {
    const client = new CoderClawClient({ baseUrl: server.url, userId: 'alice', deviceId: 'laptop-1' });
    await expect(client.connect()).rejects.toThrow(
      /waiting for approval at http:\/\/127\.0\.0\.1:\d+\/admin\/devices/,
    );
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login?next=%2Fadmin%2Fdevices');
    await signIn(page, 'alice', PASSWORD);
    const pending = page.locator('[data-testid="pending-devices"] tbody tr', { hasText: 'laptop-1' });
    await pending.waitFor();
    await checkScreen(page, 'admin-devices');
    await pending.getByRole('button', { name: 'Approve device laptop-1 of alice' }).click();
    await page
      .locator('[data-testid="decided-devices"] tr[data-state="approved"]', { hasText: 'laptop-1' })
      .waitFor();
    await page.getByText('No device is waiting for approval.').waitFor();
    // The approval shows the device's base URL (with its secret) once; the names alone still open nothing.
    const baseUrl = await page.getByLabel("The device's base URL").inputValue();
    await checkScreen(page, 'admin-devices-approved');
    expect(baseUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/k\/ccd_/);
    await expect(client.connect()).rejects.toThrow(/403 .*names alone open no session/);
    await new CoderClawClient({ baseUrl, userId: 'alice', deviceId: 'laptop-1' }).connect();
    await page.getByRole('button', { name: 'I have passed it on' }).click();
    expect(await page.content()).not.toContain(baseUrl.split('/k/')[1]);
    await context.close();
  });

  it('lists browser sessions and ends another one', async () => {
    const other = await newPage(browser, server.url);
    await other.page.goto('/login');
    await signIn(other.page, 'alice', PASSWORD);
    await other.page.getByText('No tasks here yet.').waitFor();

    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login?next=%2Fadmin%2Fsessions');
    await signIn(page, 'alice', PASSWORD);
    const rows = page.locator('[data-testid="sessions-table"] tbody tr');
    await rows.first().waitFor();
    expect(await page.locator('tr[data-current="true"]').textContent()).toContain('(this browser)');
    await checkScreen(page, 'admin-sessions');
    const before = await rows.count();
    const another = page.locator('tr[data-current="false"]').first();
    await another.getByRole('button', { name: /^End session/ }).click();
    await another.getByRole('button', { name: 'Yes, end' }).click();
    await expect.poll(() => rows.count()).toBe(before - 1);

    // The other browser's next request is refused, and it lands on the sign-in page.
    await other.page.getByRole('link', { name: 'Agents' }).click();
    await other.page.waitForURL('**/login?next=%2Fagents');
    await other.context.close();
    await context.close();
  });

  it('adds a user with a password who can then sign in', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login?next=%2Fadmin%2Fusers');
    await signIn(page, 'alice', PASSWORD);
    await page.getByRole('heading', { name: 'Add a user' }).waitFor();
    await page.getByLabel('User id').fill('dora');
    await page.getByLabel('Role', { exact: true }).selectOption('MANAGER');
    await page.getByLabel('Password (optional)', { exact: true }).fill(PASSWORD);
    await page.getByRole('button', { name: 'Add user' }).click();
    const row = page.locator('[data-user="dora"]');
    await row.waitFor();
    expect(await row.textContent()).toContain('password set');
    expect(await row.getByLabel('Role of dora').inputValue()).toBe('MANAGER');
    await checkScreen(page, 'admin-users');
    const login = await fetch(`${server.url}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: 'dora', password: PASSWORD }),
    });
    expect(login.status).toBe(200);
    await context.close();
  });
  it("links a user's GitHub login in Admin → Users, refuses one taken, and unlinks it", async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login?next=%2Fadmin%2Fusers');
    await signIn(page, 'alice', PASSWORD);
    const vic = page.locator('[data-user="vic"]');
    await vic.waitFor();
    await vic.getByRole('textbox', { name: 'GitHub login of vic' }).fill('Vic-Hub');
    await vic.getByRole('button', { name: 'Save GitHub login of vic' }).click();
    await page.getByText('vic: GitHub login is now vic-hub.').waitFor();
    // The field shows the login as stored: lower-cased.
    await expect
      .poll(() => vic.getByRole('textbox', { name: 'GitHub login of vic' }).inputValue())
      .toBe('vic-hub');
    const listed = async () =>
      (
        (await (await page.request.get('/api/users')).json()) as Array<{
          id: string;
          github_login: string | null;
        }>
      )
        .filter((u) => u.github_login)
        .map((u) => [u.id, u.github_login]);
    expect(await listed()).toEqual([['vic', 'vic-hub']]);
    await checkScreen(page, 'admin-users-github');

    const alice = page.locator('[data-user="alice"]');
    await alice.getByRole('textbox', { name: 'GitHub login of alice' }).fill('VIC-HUB');
    await alice.getByRole('button', { name: 'Save GitHub login of alice' }).click();
    await page
      .getByRole('alert')
      .getByText("GitHub login 'vic-hub' is already linked to user 'vic'")
      .waitFor();
    expect(await listed()).toEqual([['vic', 'vic-hub']]);

    await vic.getByRole('button', { name: 'Unlink GitHub login of vic' }).click();
    await page.getByText('vic: GitHub login removed.').waitFor();
    expect(await vic.getByRole('textbox', { name: 'GitHub login of vic' }).inputValue()).toBe('');
    expect(await listed()).toEqual([]);
    await context.close();
  });

  it('links a project to a GitHub repository in Admin → Projects, keeping its other settings', async () => {
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${adminToken(server.output())}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({ slug: 'linked', settings: { max_turns: 9 } }),
    });
    expect(created.status).toBe(201);
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/login?next=%2Fadmin%2Fprojects%3Fproject%3Dlinked');
    await signIn(page, 'alice', PASSWORD);
    const repo = page.getByLabel('GitHub repository (optional)');
    await repo.waitFor();
    expect(await repo.inputValue()).toBe('');
    await repo.fill('acme/linked');
    await page.getByLabel('Base branch (optional)').fill('release');
    await page.getByLabel('Pull requests', { exact: true }).selectOption('approve');
    await page.getByLabel('Open pull requests as drafts').check();
    await page.getByLabel('Fix failing CI with a follow-up run').check();
    await page.getByLabel('CI fix attempts per pull request (optional)').fill('4');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings of linked saved').waitFor();
    const settingsOf = async () =>
      (
        (await (await page.request.get('/api/projects')).json()) as Array<{ slug: string; settings: unknown }>
      ).find((p) => p.slug === 'linked')?.settings;
    expect(await settingsOf()).toEqual({
      max_turns: 9,
      github: {
        repo: 'acme/linked',
        base: 'release',
        pull_requests: 'approve',
        draft: true,
        fix_ci: true,
        fix_ci_attempts: 4,
      },
    });

    // After a reload the form shows what was saved.
    await page.reload();
    await repo.waitFor();
    expect(await repo.inputValue()).toBe('acme/linked');
    expect(await page.getByLabel('Base branch (optional)').inputValue()).toBe('release');
    expect(await page.getByLabel('Pull requests', { exact: true }).inputValue()).toBe('approve');
    expect(await page.getByLabel('Open pull requests as drafts').isChecked()).toBe(true);
    expect(await page.getByLabel('Fix failing CI with a follow-up run').isChecked()).toBe(true);
    expect(await page.getByLabel('CI fix attempts per pull request (optional)').inputValue()).toBe('4');
    await checkScreen(page, 'admin-projects-github');

    // An emptied repository unlinks the project.
    await repo.fill('');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await expect.poll(settingsOf).toEqual({ max_turns: 9 });
    await context.close();
  });
});

describe('local mode in a real browser', () => {
  let server: TestServer;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({ backend: 'postgres' });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('names the local developer and never asks to sign in', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/admin');
    await page.getByRole('heading', { name: 'Admin', level: 1 }).waitFor();
    const menu = page.getByTestId('user-menu');
    expect(await menu.locator('summary').textContent()).toContain('local developer');
    await menu.locator('summary').click();
    expect(await menu.textContent()).toContain('no sign-in needed');
    expect(await menu.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
    expect(new URL(page.url()).pathname).toBe('/admin');
    await checkScreen(page, 'admin-local');
    await page.goto('/login');
    await page.getByRole('main').getByText('no sign-in needed').waitFor();
    expect(await page.getByLabel('Password').count()).toBe(0);
    await context.close();
  });
});
