import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeOpenAI, startFakeOpenAI } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  recordSpend,
  startTestServer,
  type TestServer,
} from '../../../server/src/test-support/test-server.ts';
import { adminToken, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

describe("a project's monthly budget on its board, in a real browser", () => {
  let server: TestServer;
  let browser: Browser;
  let fake: FakeOpenAI;
  let workspaces: string;

  /** A finished run of this month that cost `usd`, as the worker leaves one. */
  async function spend(slug: string, usd: number) {
    const project = await server.prisma.project.findUniqueOrThrow({ where: { slug } });
    await recordSpend(server.prisma, { projectId: project.id, userId: 'local', usd });
  }

  beforeAll(async () => {
    browser = await launchBrowser();
    // Model costs come from the OpenAI fake: gpt-4.1 at $2 per million input tokens.
    fake = await startFakeOpenAI();
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    server = await startTestServer({
      backend: 'postgres',
      env: { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: fake.url, WORKSPACES_DIR: workspaces },
    });
    const admin = {
      authorization: `Bearer ${adminToken(server.output())}`,
      'content-type': 'application/json',
    };
    for (const [slug, budget] of [
      ['calm', 100],
      ['money', 10],
      ['live', 0.1],
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
    await spend('live', 0.07);
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await fake?.close();
    if (workspaces) await rm(workspaces, { recursive: true, force: true });
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

  it('follows the spend live: a run whose cost crosses 80 % turns the line into a warning without a reload', async () => {
    const { page, context } = await newPage(browser, server.url);
    let loads = 0;
    page.on('load', () => loads++);
    const budgetReads: number[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname === '/api/projects') budgetReads.push(Date.now());
    });
    await page.goto('/projects/live');
    const line = page.locator('.budget-line');
    await expect.poll(() => line.textContent()).toBe('Budget: $0.07 of $0.10 this month (70 %)');
    expect(await line.getAttribute('class')).toBe('budget-line');
    const before = { loads, reads: budgetReads.length };

    // A planning call of 10 000 input tokens ($0.02), streamed slowly, then `finish`.
    fake.script([
      { text: 'plan the work', usage: { input: 10_000, output: 0 }, delayMsBetweenChunks: 100 },
      { toolCalls: [{ name: 'finish', input: { summary: 'spent' } }] },
    ]);
    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        project: 'live',
        title: 'Spend two cents',
        prompt: 'Spend',
        agent_type: 'openai',
      }),
    });
    expect(res.status).toBe(201);
    const { id } = (await res.json()) as { id: string };
    await page.locator(`[data-task-id="${id}"] .badge[data-state="completed"]`).waitFor({ timeout: 30_000 });
    await expect
      .poll(() => line.textContent(), { timeout: 10_000 })
      .toBe('Budget: $0.09 of $0.10 this month (90 %) — nearly used up');
    expect(await line.getAttribute('class')).toBe('budget-line warning');
    expect(loads).toBe(before.loads);
    // Coalesced: the card's every progress event is not a budget read; its cost and its end are.
    const during = budgetReads.length - before.reads;
    expect(during).toBeGreaterThanOrEqual(1);
    expect(during).toBeLessThanOrEqual(3);
    // And no polling: a quiet board reads nothing more.
    await page.waitForTimeout(2500);
    expect(budgetReads.length - before.reads).toBe(during);
    await screenshot(page, 'board-budget-live');
    await context.close();
  });
});
