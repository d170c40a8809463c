import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeAnthropic, startFakeAnthropic } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createGitFixture } from '../../../server/src/test-support/git-fixture.ts';
import { startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { adminToken, fitsWidth, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

describe('task detail in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  let fake: FakeAnthropic;
  let repo: Awaited<ReturnType<typeof createGitFixture>>;
  let workspaces: string;

  beforeAll(async () => {
    browser = await launchBrowser();
    fake = await startFakeAnthropic({ apiKey: 'test-key' });
    repo = await createGitFixture({ 'hello.txt': 'hello\n', 'README.md': '# demo\n' });
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-web-ws-'));
    server = await startTestServer({
      backend: 'postgres',
      env: { ANTHROPIC_API_KEY: 'test-key', ANTHROPIC_BASE_URL: fake.url, WORKSPACES_DIR: workspaces },
    });
    const res = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminToken(server.output())}` },
      body: JSON.stringify({ slug: 'webdemo', name: 'Web demo', settings: { repo: repo.dir } }),
    });
    expect(res.status).toBe(201);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await fake?.close();
    await repo?.remove();
    if (workspaces) await rm(workspaces, { recursive: true, force: true });
  });

  it('creates a task in the form, streams its log, approves the WAITING step and shows the diff', async () => {
    fake.script([
      { text: '1. Check the greeting\n2. Extend it to the world', usage: { input: 120, output: 30 } },
      {
        text: 'Checking first.',
        toolCalls: [{ name: 'run_command', input: { command: 'cat hello.txt' } }],
        usage: { input: 200, output: 20 },
      },
      {
        toolCalls: [
          { name: 'edit_file', input: { path: 'hello.txt', old_text: 'hello', new_text: 'hello world' } },
        ],
        usage: { input: 300, output: 40 },
      },
      {
        toolCalls: [{ name: 'finish', input: { summary: 'Greeted the world.' } }],
        usage: { input: 100, output: 10 },
      },
    ]);
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/tasks/new?project=webdemo');
    await page.getByLabel('Title', { exact: true }).fill('Greet the world');
    await page.getByLabel('Prompt', { exact: true }).fill('Make hello.txt greet the world');
    const agent = page.getByLabel('Agent', { exact: true });
    // Unavailable runtimes are listed but disabled, with their reason.
    expect(await agent.locator('option[value="goose"]').isDisabled()).toBe(true);
    expect(await agent.locator('option[value="goose"]').textContent()).toMatch(/unavailable: /);
    await agent.selectOption('claude');
    await page.getByLabel('Approval mode').selectOption('commands');
    await page.getByLabel(/^Cost cap in USD/).fill('2');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'new-task');
    await page.getByRole('button', { name: 'Create and run' }).click();

    // The task page's address names the card by its number (#42 → /tasks/42).
    await page.waitForURL(/\/tasks\/\d+$/);
    await page.getByRole('heading', { name: 'Approval needed' }).waitFor();
    expect(await page.getByTestId('log').textContent()).toContain('Checking first.');
    expect(await page.locator('.execution .badge').getAttribute('data-state')).toBe('waiting');
    await page.getByText('run: cat hello.txt').first().waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'task-waiting');

    await page.getByRole('button', { name: 'Approve' }).click();
    await page.locator('.execution .badge[data-state="completed"]').waitFor({ timeout: 20_000 });
    const diff = page.getByTestId('diff');
    await diff.waitFor();
    expect(await diff.locator('.diff-add').allTextContents()).toEqual([
      expect.stringContaining('+hello world'),
    ]);
    expect(await diff.locator('.diff-del').allTextContents()).toEqual([expect.stringContaining('-hello')]);
    // Tool calls are folded; opening one shows its output.
    const tool = page.locator('.log-tool', { hasText: 'run_command' });
    await tool.locator('summary').click();
    expect(await tool.locator('pre').last().textContent()).toContain('hello');
    expect(await page.locator('.facts').last().textContent()).toContain('720');
    expect(await page.locator('.result').textContent()).toBe('Greeted the world.');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'task-completed');

    await page.setViewportSize({ width: 375, height: 800 });
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, 'task-completed-375');
    await context.close();
  });

  it('cancels a running execution from its page', async () => {
    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        project: 'webdemo',
        title: 'Long echo',
        prompt: 'take your time',
        agent_type: 'echo',
        context: { echo: { steps: 200, delay_ms: 300 } },
      }),
    });
    const task = (await res.json()) as { id: string };
    const { page, context } = await newPage(browser, server.url);
    await page.goto(`/tasks/${task.id}`);
    await page.locator('.execution .badge[data-state="running"]').waitFor();
    await page.getByText('step 2/200').waitFor();
    await page.getByRole('button', { name: 'Cancel' }).click();
    await page.locator('.execution .badge[data-state="cancelled"]').waitFor({ timeout: 10_000 });
    // The badge follows the cancel's answer; the log follows the event stream, a moment later.
    await expect
      .poll(() => page.getByTestId('log').textContent(), { timeout: 10_000 })
      .toContain('state → CANCELLED');
    await page.getByRole('button', { name: 'Retry' }).waitFor();
    await screenshot(page, 'task-cancelled');
    await context.close();
  });
});
