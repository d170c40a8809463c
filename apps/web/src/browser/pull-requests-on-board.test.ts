import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SeededCard, seedPullRequestCard } from '../../../server/src/test-support/pull-request-cards.ts';
import { startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { fitsWidth, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

describe('pull requests on the board, the task page and the Agents page, in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  let merged: SeededCard;
  let open: SeededCard;

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({ backend: 'postgres', role: 'api' });
    const seed = seedPullRequestCard.bind(null, server.prisma);
    merged = await seed({
      project: 'shop',
      title: 'Fix the checkout',
      runs: [
        { agent: 'claude', cost: 0.3 },
        { agent: 'claude', cost: 0.2 },
      ],
      pr: { state: 'merged', number: 41 },
    });
    await seed({
      project: 'shop',
      title: 'Tidy the cart',
      runs: [{ agent: 'claude', cost: 0.1 }],
      pr: { state: 'merged' },
    });
    open = await seed({
      project: 'shop',
      title: 'Speed up search',
      runs: [{ agent: 'claude', cost: 0.4 }],
      pr: { state: 'open', number: 43 },
    });
    await seed({
      project: 'docs',
      title: 'Rewrite the guide',
      runs: [{ agent: 'claude', cost: 1 }],
      pr: { state: 'closed' },
    });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('shows "PR #N" with its state on the card and the task page, opening GitHub in a new tab', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/projects/shop');
    const card = page.locator(`[data-task-id="${merged.taskId}"]`);
    await card.waitFor();
    const link = card.getByRole('link', { name: /^PR #41 \(merged\)/ });
    expect(await link.getAttribute('href')).toBe(merged.pullRequest?.url);
    expect(await link.getAttribute('target')).toBe('_blank');
    expect(await link.getAttribute('rel')).toBe('noopener noreferrer');
    expect(
      await page.locator(`[data-task-id="${open.taskId}"]`).getByTestId('pull-request').textContent(),
    ).toMatch(/^PR #43 \(open\)/);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'board-pull-requests');
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await fitsWidth(page)).toBe(true);
    await page.setViewportSize({ width: 1280, height: 900 });

    await card.getByRole('link', { name: 'Fix the checkout' }).click();
    await page.getByRole('heading', { name: 'Fix the checkout' }).waitFor();
    const facts = page.locator('.facts').first();
    const onPage = facts.getByRole('link', { name: /^PR #41 \(merged\)/ });
    expect(await onPage.getAttribute('href')).toBe(merged.pullRequest?.url);
    expect(await onPage.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await facts.textContent()).toContain(`from clawlink/${merged.taskId.slice(0, 8)}`);
    expect(await seriousViolations(page)).toEqual([]);
    await context.close();
  });

  it('shows pull requests opened and merged, the merge rate and the cost per merged one', async () => {
    const { page, context } = await newPage(browser, server.url);
    await page.goto('/agents');
    const claude = page.locator('[data-agent="claude"]');
    await claude.waitFor();
    // Four opened, two merged; their cards cost 0.30 + 0.20 (a follow-up) + 0.10.
    expect(await claude.textContent()).toMatch(
      /PRs opened4.*PRs merged2.*Merge rate50 %.*Cost per merged PR\$0\.30/s,
    );
    expect(await page.locator('[data-agent="echo"]').textContent()).toMatch(
      /PRs opened0.*PRs merged0.*Merge rate—.*Cost per merged PR—/s,
    );
    const rows = page.locator('[data-testid="project-pr-stats"] tbody tr');
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-project')))).toEqual([
      'docs',
      'shop',
    ]);
    const cells = (slug: string) =>
      page.locator(`[data-project="${slug}"]`).locator('th, td').allTextContents();
    expect(await cells('shop')).toEqual(['shop', '3', '2', '67 %', '$0.30']);
    expect(await cells('docs')).toEqual(['docs', '1', '0', '0 %', '—']);
    expect(await seriousViolations(page)).toEqual([]);
    await screenshot(page, 'agents-pull-requests');
    await page.setViewportSize({ width: 375, height: 800 });
    expect(await fitsWidth(page)).toBe(true);
    await context.close();
  });
});
