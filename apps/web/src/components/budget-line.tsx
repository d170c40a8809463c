import type { ProjectBudgetDto } from '@ccl/contracts';

/** From this share of a budget the board and Admin → Users set the figure off as a warning. */
export const BUDGET_WARN_AT = 80;

/** A budget as it was set: "$10", "$12.50". */
export const dollars = (n: number) => (Number.isInteger(n) ? `$${n}` : `$${n.toFixed(2)}`);

/** spent / budget in whole percent, rounded down, as the server counts it (core budgets.ts). */
export function budgetPercent(spent: number, budget: number): number {
  // A hair of float noise (0.8 * 10 = 8.000000000000002) must not keep 80 % from counting.
  return Math.floor((spent / budget) * 100 + 1e-9);
}

/**
 * A project's spend against its monthly budget (runs created this calendar month, UTC). From 80 %
 * it is set off as a warning; at 100 % the project's new runs wait and running ones ask to go on.
 */
export function BudgetLine({ budget }: { budget: ProjectBudgetDto }) {
  const warn = budget.percent >= BUDGET_WARN_AT;
  return (
    <p className={`budget-line${warn ? ' warning' : ''}`} data-budget-percent={budget.percent}>
      Budget: ${budget.spent_usd.toFixed(2)} of {dollars(budget.budget_usd)} this month ({budget.percent} %)
      {budget.percent >= 100
        ? ' — reached: new runs wait and running ones ask to go on until the budget is raised'
        : warn
          ? ' — nearly used up'
          : ''}
    </p>
  );
}
