import type { ProjectBudgetDto } from '@ccl/contracts';

const WARN_AT = 80;

/** A budget as it was set: "$10", "$12.50". */
const dollars = (n: number) => (Number.isInteger(n) ? `$${n}` : `$${n.toFixed(2)}`);

/**
 * A project's spend against its monthly budget (runs created this calendar month, UTC). From 80 %
 * it is set off as a warning; at 100 % the project's new runs wait and running ones ask to go on.
 */
export function BudgetLine({ budget }: { budget: ProjectBudgetDto }) {
  const warn = budget.percent >= WARN_AT;
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
