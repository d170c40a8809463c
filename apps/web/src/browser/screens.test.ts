import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from '../../../server/src/test-support/coderclaw-client.ts';
import { startTestServer, type TestServer, waitFor } from '../../../server/src/test-support/test-server.ts';
import { adminToken, fitsWidth, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

describe('agents, audit and queue screens in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  let client: CoderClawClient;
  let token: string;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({ backend: 'postgres' });
    token = adminToken(server.output());
    client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
    const done = await client.submit('echo', 'quick one', { echo: { steps: 1, delay_ms: 1 } });
    await waitFor(async () => (await client.queryTaskState(String(done.task_id)))?.state === 'completed');
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows each runtime with its availability and why, models, success rate and cost', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/agents');
    const echo = page.locator('[data-agent="echo"]');
    await echo.waitFor();
    expect(await echo.textContent()).toMatch(
      /available.*Runs \(30 d\)1.*Success100 % \(1\/1\).*Avg cost\$0/s,
    );
    const goose = page.locator('[data-agent="goose"]');
    expect(await goose.textContent()).toMatch(/unavailable.*Why: \S+/s);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'agents');
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await fitsWidth(page)).toBe(true);
    await context.close();
  });

  it('shows queue counts, worker heartbeats and active runs, read-only', async () => {
    // A worker that died without saying goodbye: its row stopped beating half a minute ago.
    await server.prisma.worker.create({
      data: {
        id: randomUUID(),
        host: 'crashed-host',
        pid: 4242,
        role: 'worker',
        queueName: 'clawlink-executions',
        concurrency: 8,
        running: 1,
        lastSeenAt: new Date(Date.now() - 30_000),
      },
    });
    const slow = await client.submit('echo', 'slow one', { echo: { steps: 200, delay_ms: 200 } });
    await waitFor(async () => (await client.queryTaskState(String(slow.task_id)))?.state === 'running');
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/queue');
    const row = page.locator('tbody tr', { hasText: String(slow.execution_uuid).slice(0, 8) });
    await row.waitFor();
    expect(await row.textContent()).toMatch(/RUNNING.*ago/);
    expect(await page.locator('table').first().textContent()).toMatch(/postgres/);
    // This server's own worker, live, then the dead one, stale in words and not only in colour.
    const workers = page.locator('[data-testid="workers-table"] tbody tr');
    await expect.poll(() => workers.count()).toBe(2);
    expect(await workers.nth(0).textContent()).toMatch(
      new RegExp(`^${hostname()}${process.pid}all\\S+ / 4\\d+ s ago✓ Live$`),
    );
    // The heartbeat carries the running count: 1 once the next beat has seen the slow run.
    await expect.poll(() => workers.nth(0).textContent(), { timeout: 12_000 }).toMatch(/1 \/ 4/);
    expect(await workers.nth(1).textContent()).toMatch(
      /^crashed-host4242workerclawlink-executions1 \/ 8\d+ s ago⚠ Stale: no heartbeat for over 15 s$/,
    );
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'queue');
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await fitsWidth(page)).toBe(true);
    await client.cancel(String(slow.task_id));
    await context.close();
  });

  it('tells a user without audit:view what to do', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/audit');
    const alert = page.getByRole('alert').filter({ hasText: 'audit:view' });
    await alert.waitFor();
    expect(await alert.textContent()).toContain('Ask an administrator');
    await context.close();
  });

  it('filters the audit log and loads older pages on scroll', async () => {
    for (let i = 0; i < 60; i++) {
      await fetch(`${server.url}/api/tasks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ project: 'audit-demo', title: `card ${i}` }),
      });
    }
    const { page, context } = await newPage(browser, server.url);
    await context.setExtraHTTPHeaders({ authorization: `Bearer ${token}` });
    await page.goto('/audit');
    const rows = page.locator('[data-testid="audit-table"] tbody tr');
    await rows.first().waitFor();
    expect(await rows.count()).toBe(50);
    await page.getByLabel('Action').fill('task.create');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect
      .poll(
        async () => new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-action')))),
      )
      .toEqual(new Set(['task.create']));
    expect(await rows.count()).toBe(50);
    await page
      .getByText('End of the log.')
      .or(page.getByRole('button', { name: 'Load more' }))
      .first()
      .scrollIntoViewIfNeeded();
    await expect.poll(() => rows.count()).toBe(60);
    await page.getByText('End of the log.').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('Action').fill('task.submit');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => rows.count()).toBe(2);
    await screenshot(page, 'audit');
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await fitsWidth(page)).toBe(true);
    await screenshot(page, 'audit-375');
    await context.close();
  });
});
