import {
  BUDGET_WARNING_PERCENT,
  budgetPercent,
  projectBudgetOf,
  projectsSpend,
  usd,
  userSpend,
} from '@ccl/core';
import { createPrisma } from '@ccl/db';

type Report = (ok: boolean, what: string, detail: string, warn?: boolean) => void;

/**
 * Monthly budgets near or at their limit (a warning, never a failure: spending is not a fault).
 * At 100 % the project's (or user's) new runs are held and running ones wait for approval.
 */
export async function checkBudgets(dbUrl: string, report: Report): Promise<void> {
  const prisma = createPrisma(dbUrl, { max: 2 });
  try {
    const at = new Date();
    const projects = (await prisma.project.findMany({ select: { id: true, slug: true, settings: true } }))
      .map((p) => ({ ...p, budget: projectBudgetOf(p.settings) }))
      .filter((p): p is typeof p & { budget: number } => p.budget !== null);
    const users = await prisma.user.findMany({
      where: { budgetUsdMonth: { not: null } },
      select: { id: true, budgetUsdMonth: true },
    });
    if (projects.length === 0 && users.length === 0) {
      report(true, 'budgets', 'no monthly budgets set');
      return;
    }
    const spent = await projectsSpend(
      prisma,
      projects.map((p) => p.id),
      at,
    );
    const near: string[] = [];
    const describe = (who: string, spentUsd: number, budget: number) => {
      const percent = budgetPercent(spentUsd, budget);
      if (percent < BUDGET_WARNING_PERCENT) return;
      const figures = `${usd(spentUsd)} of ${usd(budget)} this month`;
      near.push(
        percent >= 100
          ? `${who} at ${percent} % (${figures}): its new runs are held and running ones wait for approval`
          : `${who} at ${percent} % (${figures})`,
      );
    };
    for (const p of projects) describe(`project '${p.slug}'`, spent.get(p.id) ?? 0, p.budget);
    for (const u of users)
      describe(`user '${u.id}'`, await userSpend(prisma, u.id, at), u.budgetUsdMonth as number);
    const counted = `${projects.length} project and ${users.length} user budget${users.length === 1 ? '' : 's'}`;
    if (near.length === 0) {
      report(true, 'budgets', `${counted}, none at ${BUDGET_WARNING_PERCENT} %`);
      return;
    }
    report(
      true,
      'budgets',
      `${near.join('; ')}; raise a budget in the project's settings or with clawlink user budget`,
      true,
    );
  } catch (err) {
    report(false, 'budgets', `could not check: ${(err as Error).message}`);
  } finally {
    await prisma.$disconnect();
  }
}
