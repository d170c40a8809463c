import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase, type TestDatabase, uniquePrefix } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, killAllCli, runCli } from './test-support/run-cli.ts';
import { recordSpend } from './test-support/test-server.ts';

describe('clawlink doctor on monthly budgets, and clawlink user budget', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 2 });
    env = cliEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn', QUEUE_NAME: uniquePrefix('doctor-budget') });
    expect((await runCli(['user', 'add', 'ada', '--role', 'DEVELOPER'], env)).code).toBe(0);
  });
  afterAll(async () => {
    await killAllCli();
    await prisma?.$disconnect();
    await db?.drop();
  });

  /** A run of this month that cost `usd`, as the worker leaves one. */
  async function spend(slug: string, usd: number, userId = 'ada') {
    const project = await prisma.project.findUniqueOrThrow({ where: { slug } });
    await recordSpend(prisma, { projectId: project.id, userId, usd });
  }

  it('warns about projects and users at 80 % and at 100 % of their budget, without failing the check', async () => {
    expect((await runCli(['doctor'], env)).stdout).toMatch(/^ ok \s+budgets\s+no monthly budgets set$/m);

    const set = await runCli(['user', 'budget', 'ada', '2.5'], env);
    expect(set.stdout).toBe("user 'ada' may spend $2.5 a month\n");
    expect((await prisma.user.findUniqueOrThrow({ where: { id: 'ada' } })).budgetUsdMonth).toBe(2.5);
    expect((await runCli(['user', 'budget', 'ada', 'lots'], env)).code).not.toBe(0);

    await prisma.project.create({ data: { slug: 'near', name: 'near', settings: { budget_usd_month: 10 } } });
    await prisma.project.create({ data: { slug: 'over', name: 'over', settings: { budget_usd_month: 1 } } });
    await prisma.project.create({
      data: { slug: 'calm', name: 'calm', settings: { budget_usd_month: 100 } },
    });
    expect((await runCli(['doctor'], env)).stdout).toMatch(
      /^ ok \s+budgets\s+3 project and 1 user budget, none at 80 %$/m,
    );

    await spend('near', 8.5);
    await spend('over', 1.25, 'local');
    await spend('calm', 1);
    const report = await runCli(['doctor'], env);
    const line = report.stdout.split('\n').find((l) => l.includes('budgets')) ?? '';
    expect(line).toMatch(/^WARN\s+budgets\s+/);
    expect(line).toContain("project 'near' at 85 % ($8.50 of $10.00 this month)");
    expect(line).toContain(
      "project 'over' at 125 % ($1.25 of $1.00 this month): its new runs are held and running ones wait for approval",
    );
    expect(line).not.toContain("'calm'");
    // ada ran 8.50 + 1 of her 2.50.
    expect(line).toContain("user 'ada' at 380 % ($9.50 of $2.50 this month)");
    expect(report.stdout).not.toMatch(/^FAIL\s+budgets/m);

    const cleared = await runCli(['user', 'budget', 'ada', '-'], env);
    expect(cleared.stdout).toBe("user 'ada' has no monthly budget\n");
  }, 90_000);
});
