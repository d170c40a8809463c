import { addUser, setPassword } from '@ccl/core';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  recordSpend,
  startTestServer,
  type TestServer,
} from '../../../server/src/test-support/test-server.ts';
import { adminToken, launchBrowser, newPage, screenshot, seriousViolations } from './support.ts';

type Browser = Awaited<ReturnType<typeof launchBrowser>>;

const PASSWORD = 'correct horse battery staple';

describe("a user's monthly budget in Admin → Users, in a real browser", () => {
  let server: TestServer;
  let browser: Browser;
  let admin: Record<string, string>;

  /** The budgets and month spends as the API stores them. */
  const stored = async () => {
    const list = (await (await fetch(`${server.url}/api/users`, { headers: admin })).json()) as Array<{
      id: string;
      budget_usd_month: number | null;
      spent_usd_month: number;
    }>;
    const bob = list.find((u) => u.id === 'bob');
    return { budget: bob?.budget_usd_month, spent: bob?.spent_usd_month };
  };

  async function signIn(page: Page) {
    await page.goto('/login?next=%2Fadmin%2Fusers');
    await page.getByLabel('User id').fill('alice');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  beforeAll(async () => {
    browser = await launchBrowser();
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    admin = { authorization: `Bearer ${adminToken(server.output())}`, 'content-type': 'application/json' };
    const deps = { prisma: server.prisma, audit: server.deps.audit };
    await addUser(deps, { id: 'alice', role: 'ADMIN' });
    await setPassword(deps, { userId: 'alice', password: PASSWORD });
    await addUser(deps, { id: 'bob', role: 'DEVELOPER' });
    // A run of bob's this month that cost $3.20.
    const project = await server.prisma.project.create({ data: { slug: 'demo', name: 'Demo' } });
    await recordSpend(server.prisma, { projectId: project.id, userId: 'bob', usd: 3.2 });
  });
  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  it('lists every user with what their runs cost this month', async () => {
    expect(await stored()).toEqual({ budget: null, spent: 3.2 });
    const list = (await (await fetch(`${server.url}/api/users`, { headers: admin })).json()) as Array<{
      id: string;
      spent_usd_month: number;
    }>;
    expect(list.find((u) => u.id === 'alice')?.spent_usd_month).toBe(0);
  });

  it('sets a budget that is stored, refuses a bad one with the API’s message, and removes it', async () => {
    const { page, context } = await newPage(browser, server.url);
    await signIn(page);
    const bob = page.locator('[data-user="bob"]');
    await bob.waitFor();
    const field = bob.getByRole('textbox', { name: 'Monthly budget of bob in USD' });
    const spend = bob.getByTestId('user-spend');
    expect(await field.inputValue()).toBe('');
    expect(await spend.textContent()).toBe('$3.20 this month');

    await field.fill('4');
    await bob.getByRole('button', { name: 'Save monthly budget of bob' }).click();
    await page.getByText('bob: monthly budget is now $4.').waitFor();
    expect(await stored()).toEqual({ budget: 4, spent: 3.2 });
    await expect.poll(() => spend.textContent()).toBe('$3.20 of $4 this month (80 %)');
    expect(await spend.getAttribute('class')).toContain('warning');
    expect(await field.inputValue()).toBe('4');
    await screenshot(page, 'admin-users-budget');
    expect(await seriousViolations(page)).toEqual([]);

    // A negative amount: the API says why, the field keeps what was typed, nothing is stored.
    await field.fill('-5');
    await bob.getByRole('button', { name: 'Save monthly budget of bob' }).click();
    const refusal = page.getByRole('alert').getByText('Could not change bob: body.budget_usd_month:');
    await refusal.waitFor();
    expect(await refusal.textContent()).toMatch(/budget_usd_month: Too small: expected number to be >0/);
    expect(await field.inputValue()).toBe('-5');
    expect(await stored()).toEqual({ budget: 4, spent: 3.2 });
    await screenshot(page, 'admin-users-budget-refused');

    // Not a number at all: refused the same way.
    await page.getByRole('alert').getByRole('button', { name: 'Dismiss' }).click();
    await field.fill('ten');
    await bob.getByRole('button', { name: 'Save monthly budget of bob' }).click();
    await page
      .getByRole('alert')
      .getByText(/budget_usd_month: Invalid input: expected number, received string/)
      .waitFor();
    expect(await stored()).toEqual({ budget: 4, spent: 3.2 });

    // Decimals are kept; Remove (or saving it empty) takes the budget away.
    await field.fill('12.5');
    await bob.getByRole('button', { name: 'Save monthly budget of bob' }).click();
    await page.getByText('bob: monthly budget is now $12.50.').waitFor();
    expect(await stored()).toEqual({ budget: 12.5, spent: 3.2 });
    await expect.poll(() => spend.textContent()).toBe('$3.20 of $12.50 this month (25 %)');
    await bob.getByRole('button', { name: 'Remove monthly budget of bob' }).click();
    await page.getByText('bob: monthly budget removed.').waitFor();
    expect(await stored()).toEqual({ budget: null, spent: 3.2 });
    expect(await field.inputValue()).toBe('');
    expect(await spend.textContent()).toBe('$3.20 this month');
    await context.close();
  });
});
