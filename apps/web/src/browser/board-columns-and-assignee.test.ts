import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { adminToken, fitsWidth, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

describe("a project's own board columns, and assignees, in a real browser", () => {
  let server: TestServer;
  let browser: Browser;
  let admin: Record<string, string>;
  const cards: Record<string, string> = {};

  const api = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Json> => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    expect(res.status, `${method} ${path}`).toBeLessThan(300);
    return res.json();
  };

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({ backend: 'postgres' });
    admin = { authorization: `Bearer ${adminToken(server.output())}` };
    await server.addUser('ann', 'DEVELOPER');
    await api('POST', '/api/projects', { slug: 'flow', name: 'Flow' }, admin);
    for (const [title, column] of [
      ['Idea for later', 'backlog'],
      ['Ready to start', 'todo'],
      ['Waiting for review', 'review'],
      ['Assign me', 'todo'],
    ] as const) {
      cards[title] = (await api('POST', '/api/tasks', { project: 'flow', title, column })).id;
    }
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('edits the columns in Admin → Projects; the board shows them and counts cards in hidden ones', async () => {
    const { page, context } = await newPage(browser, server.url);
    await context.setExtraHTTPHeaders(admin);
    await page.goto('/admin/projects?project=flow');
    await page.getByLabel('Show Backlog').uncheck();
    await page.getByLabel('Show Review').uncheck();
    await page.getByLabel('Name of the To do column').fill('Ready');
    await page.getByRole('button', { name: 'Save settings' }).click();
    await page.getByText('Settings of flow saved').waitFor();
    const project = (
      (await api('GET', '/api/projects', undefined, admin)) as Array<Record<string, Json>>
    ).find((p) => p.slug === 'flow');
    expect(project?.settings).toEqual({
      columns: [{ key: 'todo', label: 'Ready' }, { key: 'in_progress' }, { key: 'done' }],
    });
    // The form shows what was saved.
    await page.reload();
    expect(await page.getByLabel('Show Backlog').isChecked()).toBe(false);
    expect(await page.getByLabel('Name of the To do column').inputValue()).toBe('Ready');

    await page.goto('/projects/flow');
    await page.getByTestId('task-card').first().waitFor();
    expect(
      await page.locator('[data-column]').evaluateAll((els) => els.map((e) => e.getAttribute('data-column'))),
    ).toEqual(['todo', 'in_progress', 'done']);
    expect(await page.locator('#col-todo').textContent()).toBe('Ready 2');
    const note = page.getByTestId('hidden-columns');
    expect(await note.locator('summary').textContent()).toBe(
      '2 cards are in columns this board hides: Backlog (1), Review (1)',
    );
    await note.locator('summary').click();
    await note.getByRole('link', { name: 'Waiting for review' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'board-columns');

    // Keyboard moves stay among the shown columns: right of Ready is In progress.
    const handle = page.getByRole('button', { name: 'Move Ready to start' });
    await handle.focus();
    await page.keyboard.press('Space');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('Space');
    await page.locator(`[data-column="in_progress"] [data-task-id="${cards['Ready to start']}"]`).waitFor();

    // The all-projects board keeps the standard five.
    await page.goto('/');
    await page.getByTestId('task-card').first().waitFor();
    expect(await page.locator('[data-column]').count()).toBe(5);
    await page.setViewportSize({ width: 375, height: 800 });
    await page.goto('/projects/flow');
    await page.getByTestId('task-card').first().waitFor();
    expect(await fitsWidth(page)).toBe(true);
    await context.close();
  });

  it('assigns a card on its page; the card shows the assignee and the filter finds it', async () => {
    const id = cards['Assign me'] as string;
    const { page, context } = await newPage(browser, server.url);
    await page.goto(`/tasks/${id}`);
    const picker = page.getByLabel('Assignee');
    await picker.locator('option[value="ann"]').waitFor({ state: 'attached' });
    expect(await picker.inputValue()).toBe('');
    await picker.selectOption('ann');
    await page.getByText('Assigned to ann.').waitFor();
    expect((await api('GET', `/api/tasks/${id}`)).assignee_id).toBe('ann');
    // The page names the column as the project's board does.
    await expect.poll(() => page.locator('.crumbs').textContent()).toContain('Ready');
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'task-assignee');

    await page.goto('/projects/flow');
    const card = page.locator(`[data-task-id="${id}"]`);
    await card.waitFor();
    expect(await card.getByTestId('card-assignee').textContent()).toBe('Assigned to @ann');
    const visible = page.getByTestId('task-card');
    await page.locator('.filters').getByLabel('Assignee').selectOption('ann');
    await expect.poll(() => visible.allTextContents()).toEqual([expect.stringContaining('Assign me')]);
    await page.locator('.filters').getByLabel('Assignee').selectOption({ label: 'unassigned' });
    await expect.poll(() => visible.count()).toBe(1);
    expect(await visible.first().textContent()).toContain('Ready to start');
    await screenshot(page, 'board-assignee-filter');

    // Unassigning from the page goes back to nobody.
    await page.goto(`/tasks/${id}`);
    await page.getByLabel('Assignee').selectOption('');
    await page.getByText('Nobody is assigned now.').waitFor();
    expect((await api('GET', `/api/tasks/${id}`)).assignee_id).toBeNull();
    await context.close();
  });
});
