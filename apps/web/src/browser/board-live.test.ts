import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from '../../../server/src/test-support/coderclaw-client.ts';
import { startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { fitsWidth, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

describe('board in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  let client: CoderClawClient;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({ backend: 'postgres' });
    client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows a task CoderClaw submits and moves its badge through the states live, without reload', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/');
    await page.getByText('No tasks here yet.').waitFor();
    let loads = 0;
    page.on('load', () => loads++);

    const { task_id } = await client.submit('echo', 'Summarise the changelog', {
      project: 'demo',
      echo: { steps: 6, delay_ms: 400 },
    });
    const card = page.locator(`[data-task-id="${task_id}"]`);
    await card.waitFor();
    const badge = card.locator('.badge');
    const seen = new Set<string>();
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      const state = await badge.getAttribute('data-state');
      if (state) seen.add(state);
      if (state === 'completed') break;
      await page.waitForTimeout(100);
    }
    expect(seen.has('running')).toBe(true);
    expect([...seen].at(-1)).toBe('completed');
    expect(await badge.textContent()).toContain('COMPLETED');
    expect(loads).toBe(0);
    await screenshot(page, 'board');
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });

  const createCard = async (title: string, column = 'todo') => {
    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ project: 'demo', title, column }),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { id: string }).id;
  };
  const columnOf = async (id: string) =>
    ((await (await fetch(`${server.url}/api/tasks/${id}`)).json()) as { column: string }).column;

  it('moves cards by drag and drop and by keyboard; dropping a run card on In progress starts it again', async () => {
    const plain = await createCard('Write release notes');
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/projects/demo');
    const card = page.locator(`[data-task-id="${plain}"]`);
    await card.dragTo(page.locator('[data-column="review"]'));
    await page.locator(`[data-column="review"] [data-task-id="${plain}"]`).waitFor();
    await expect.poll(() => columnOf(plain)).toBe('review');

    // Keyboard: Space picks the card up, arrows choose the column, Space drops it.
    const ran = (await (await fetch(`${server.url}/api/tasks?project=demo`)).json()).items.find(
      (t: { title: string }) => t.title === 'Summarise the changelog',
    ) as { id: string };
    // Its run completed, so the card waits in Review; one column right is Done.
    await page.locator(`[data-column="review"] [data-task-id="${ran.id}"]`).waitFor();
    const handle = page.getByRole('button', { name: 'Move Summarise the changelog' });
    await handle.focus();
    await page.keyboard.press('Space');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Space');
    await page.locator(`[data-column="done"] [data-task-id="${ran.id}"]`).waitFor();
    expect(await page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).toBe(
      'Move Summarise the changelog',
    );
    await expect.poll(() => columnOf(ran.id)).toBe('done');

    // Back to In progress by drag: the card has an agent, so a new run starts and its badge goes live.
    await page.locator(`[data-task-id="${ran.id}"]`).dragTo(page.locator('[data-column="in_progress"]'));
    const badge = page.locator(`[data-column="in_progress"] [data-task-id="${ran.id}"] .badge`);
    await badge
      .and(page.locator('[data-state="running"], [data-state="planning"], [data-state="pending"]'))
      .waitFor();
    const runs = (await (await fetch(`${server.url}/api/tasks/${ran.id}/executions`)).json()) as unknown[];
    expect(runs).toHaveLength(2);
    // Completed, the card moves on to Review by itself.
    await page
      .locator(`[data-column="review"] [data-task-id="${ran.id}"] .badge[data-state="completed"]`)
      .waitFor({ timeout: 20_000 });
    await context.close();
  });

  it('rolls an optimistic move back and says what to do when the server refuses it', async () => {
    const id = await createCard('Refused move');
    const { page, context } = await newPage(browser, server.url);
    // The network refuses, as a concurrent edit would (409).
    await page.route('**/api/tasks/*', (route) =>
      route.request().method() === 'PATCH'
        ? route.fulfill({
            status: 409,
            contentType: 'application/json',
            body: JSON.stringify({ error: 'conflict', message: 'task changed meanwhile' }),
          })
        : route.continue(),
    );
    await page.goto('/projects/demo');
    await page.locator(`[data-task-id="${id}"]`).dragTo(page.locator('[data-column="backlog"]'));
    const alert = page.getByRole('alert').filter({ hasText: 'task changed meanwhile' });
    await alert.waitFor();
    expect(await alert.textContent()).toContain('reload and try again');
    await page.locator(`[data-column="todo"] [data-task-id="${id}"]`).waitFor();
    expect(await columnOf(id)).toBe('todo');
    await screenshot(page, 'board-error-toast');
    await context.close();
  });

  it('filters cards by text, state and agent', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/projects/demo');
    const cards = page.getByTestId('task-card');
    await cards.first().waitFor();
    const total = await cards.count();
    expect(total).toBeGreaterThanOrEqual(3);
    await page.getByLabel('Search').fill('release');
    await expect
      .poll(() => cards.allTextContents())
      .toEqual([expect.stringContaining('Write release notes')]);
    await page.getByLabel('Search').fill('');
    await page.getByLabel('State').selectOption('completed');
    await expect.poll(() => cards.count()).toBe(1);
    await page.getByLabel('State').selectOption('');
    await page.getByLabel('Agent').selectOption('echo');
    await expect.poll(() => cards.count()).toBe(1);
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await expect.poll(() => cards.count()).toBe(total);
    await context.close();
  });

  it('fits a 375 px wide screen', async () => {
    const { page, context } = await newPage(browser, server.url, 375);
    await page.goto('/');
    await page.locator('[data-testid="task-card"]').first().waitFor();
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, 'board-375');
    await context.close();
  });
});
