import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

// People say "#42": cards and the task page show the number, the task page's address takes it, and a
// priority other than medium shows on the card as a word; it is set on the task page and the new-task form.
describe('card numbers and priority in a real browser', () => {
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

  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return (await res.json()) as { id: string; number: number; priority: string };
  };

  it('shows #number and the priority on cards; the task page takes the number and sets the priority', async () => {
    const urgent = await api('POST', '/api/tasks', {
      project: 'nums',
      title: 'Fix the outage',
      priority: 'urgent',
    });
    const plain = await api('POST', '/api/tasks', { project: 'nums', title: 'Tidy the docs' });
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/projects/nums');
    const urgentCard = page.locator(`[data-task-id="${urgent.id}"]`);
    const plainCard = page.locator(`[data-task-id="${plain.id}"]`);
    expect(await urgentCard.getByTestId('task-number').textContent()).toBe(`#${urgent.number}`);
    expect(await plainCard.getByTestId('task-number').textContent()).toBe(`#${plain.number}`);
    // Text, not colour alone; medium (the default) shows nothing.
    expect(await urgentCard.getByTestId('card-priority').textContent()).toBe('Priority: ↑ urgent');
    expect(await plainCard.getByTestId('card-priority').count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'board-numbers-priority');

    // The card links to /tasks/<number>; the page shows the number and sets the priority.
    await urgentCard.getByRole('link', { name: /Fix the outage/ }).click();
    await page.waitForURL(`**/tasks/${urgent.number}`);
    await page.getByRole('heading', { name: `#${urgent.number} Fix the outage` }).waitFor();
    const priority = page.getByLabel('Priority', { exact: true });
    expect(await priority.inputValue()).toBe('urgent');
    await priority.selectOption('low');
    await expect.poll(async () => (await api('GET', `/api/tasks/${urgent.id}`)).priority).toBe('low');
    expect(await seriousViolations(page)).toEqual([]);

    // An address with the number works on a fresh load too.
    await page.goto(`/tasks/${plain.number}`);
    await page.getByRole('heading', { name: `#${plain.number} Tidy the docs` }).waitFor();
    await context.close();
  });

  it('sets the priority on the new-task form', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/tasks/new?project=nums');
    await page.getByLabel('Title', { exact: true }).fill('Ship the hotfix');
    await page.getByLabel('Prompt', { exact: true }).fill('ship it');
    await page.getByLabel('Agent', { exact: true }).selectOption('echo');
    await page.getByLabel('Priority', { exact: true }).selectOption('high');
    await page.getByRole('button', { name: 'Create and run' }).click();
    await page.waitForURL(/\/tasks\/\d+$/);
    const number = new URL(page.url()).pathname.split('/').at(-1);
    const task = await api('GET', `/api/tasks/${number}`);
    expect(task.priority).toBe('high');
    await page.getByRole('heading', { name: `#${number} Ship the hotfix` }).waitFor();
    await context.close();
  });
});
