import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { adminToken, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

describe("a project's monthly budget on its board, in a real browser", () => {
  let server: TestServer;
  let browser: Browser;

  /** A finished run of this month that cost `usd`, as the worker leaves one. */
  async function spend(slug: string, usd: number) {
    const project = await server.prisma.project.findUniqueOrThrow({ where: { slug } });
    const task = await server.prisma.task.create({
      data: { projectId: project.id, title: 'Spent', creatorId: 'local' },
    });
    await server.prisma.execution.create({
      data: {
        taskId: task.id,
        requestedAgent: 'echo',
        agentType: 'echo',
        prompt: 'p',
        userId: 'local',
        state: 'COMPLETED',
        usage: { cost_usd: usd },
      },
    });
  }

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({ backend: 'postgres' });
    const admin = {
      authorization: `Bearer ${adminToken(server.output())}`,
      'content-type': 'application/json',
    };
    for (const [slug, budget] of [
      ['calm', 100],
      ['money', 10],
    ] as const) {
      const res = await fetch(`${server.url}/api/projects`, {
        method: 'POST',
        headers: admin,
        body: JSON.stringify({ slug, settings: { budget_usd_month: budget } }),
      });
      expect(res.status).toBe(201);
    }
    await spend('calm', 5);
    await spend('money', 8.1);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows the spend against the budget, as a warning from 80 %', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/projects/calm');
    const calm = page.locator('.budget-line');
    await expect.poll(() => calm.textContent()).toBe('Budget: $5.00 of $100 this month (5 %)');
    expect(await calm.getAttribute('class')).toBe('budget-line');

    await page.goto('/projects/money');
    const line = page.locator('.budget-line');
    await expect
      .poll(() => line.textContent())
      .toBe('Budget: $8.10 of $10 this month (81 %) — nearly used up');
    expect(await line.getAttribute('class')).toBe('budget-line warning');
    await screenshot(page, 'board-budget-warning');
    expect(await seriousViolations(page)).toEqual([]);

    // The all-projects board has no one budget to show.
    await page.goto('/');
    await page.locator('h1#board-title').waitFor();
    expect(await page.locator('.budget-line').count()).toBe(0);
    await context.close();
  });
});
