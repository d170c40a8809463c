import type { ProjectBudgetDto } from '@ccl/contracts';
import { Prisma } from '@ccl/db';
import type { Tx } from './deps.ts';

/**
 * Monthly budgets (issue 16): a project's `settings.budget_usd_month` and a user's
 * `users.budget_usd_month`. What counts against a month is the cost (`executions.usage.cost_usd`,
 * which the worker rewrites on every usage report) of the runs *created* in that calendar month,
 * in UTC: a run started on the 31st and still spending on the 1st counts for the month it started
 * in, so one run's cost is never split and a month's figure only grows while its runs run.
 */

type Db = Pick<Tx, '$queryRaw'>;

/** At this share of a budget the board warns and followers are told. */
export const BUDGET_WARNING_PERCENT = 80;

/** The first instant of the calendar month (UTC) `at` falls in. */
export function monthStart(at: Date = new Date()): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/** `YYYY-MM` of the calendar month (UTC). */
export function monthKey(at: Date = new Date()): string {
  return at.toISOString().slice(0, 7);
}

/** Dollars as budgets are shown. */
export const usd = (n: number): string => `$${n.toFixed(2)}`;

/** A project's monthly budget from its stored settings, or null. */
export function projectBudgetOf(settings: unknown): number | null {
  const v = (settings as { budget_usd_month?: unknown } | null)?.budget_usd_month;
  return typeof v === 'number' && v > 0 ? v : null;
}

/** The cost of the runs `e` a query groups, in US dollars (runs without a numeric cost count 0). */
const SPENT = Prisma.sql`COALESCE(SUM((e.usage->>'cost_usd')::float8)
  FILTER (WHERE jsonb_typeof(e.usage->'cost_usd') = 'number'), 0)::float8`;

/** Month-to-date spend per project (projects without runs this month are absent). */
export async function projectsSpend(db: Db, projectIds: string[], at: Date = new Date()) {
  const spent = new Map<string, number>();
  if (projectIds.length === 0) return spent;
  const rows = await db.$queryRaw<Array<{ project_id: string; spent: number }>>`
    SELECT t.project_id::text AS project_id,
           ${SPENT} AS spent
      FROM executions e JOIN tasks t ON t.id = e.task_id
     WHERE t.project_id = ANY(${projectIds}::uuid[]) AND e.created_at >= ${monthStart(at)}
     GROUP BY t.project_id`;
  for (const r of rows) spent.set(r.project_id, Number(r.spent));
  return spent;
}

/** Month-to-date spend of one user's runs, in every project. */
export async function userSpend(db: Db, userId: string, at: Date = new Date()): Promise<number> {
  return (await usersSpend(db, [userId], at)).get(userId) ?? 0;
}

/** Month-to-date spend of several users' runs, in every project (users without runs this month are absent). */
export async function usersSpend(db: Db, userIds: string[], at: Date = new Date()) {
  const spent = new Map<string, number>();
  if (userIds.length === 0) return spent;
  const rows = await db.$queryRaw<Array<{ user_id: string; spent: number }>>`
    SELECT e.user_id, ${SPENT} AS spent
      FROM executions e WHERE e.user_id = ANY(${userIds}::text[]) AND e.created_at >= ${monthStart(at)}
     GROUP BY e.user_id`;
  for (const r of rows) spent.set(r.user_id, Number(r.spent));
  return spent;
}

export function budgetPercent(spent: number, budget: number): number {
  // A hair of float noise (0.8 * 10 = 8.000000000000002) must not keep 80 % from counting.
  return Math.floor((spent / budget) * 100 + 1e-9);
}

export function toProjectBudgetDto(budget: number, spent: number, at: Date = new Date()): ProjectBudgetDto {
  return { month: monthKey(at), budget_usd: budget, spent_usd: spent, percent: budgetPercent(spent, budget) };
}

/** The budget figures of projects for their DTOs, in one query; null for a project without a budget. */
export async function projectBudgets(
  db: Db,
  projects: Array<{ id: string; settings: unknown }>,
): Promise<Map<string, ProjectBudgetDto | null>> {
  const at = new Date();
  const budgeted = projects.filter((p) => projectBudgetOf(p.settings) !== null);
  const spent = await projectsSpend(
    db,
    budgeted.map((p) => p.id),
    at,
  );
  return new Map(
    projects.map((p) => {
      const budget = projectBudgetOf(p.settings);
      return [p.id, budget === null ? null : toProjectBudgetDto(budget, spent.get(p.id) ?? 0, at)];
    }),
  );
}

/** A monthly budget a run's project or submitter has used up. */
export interface BudgetReached {
  limit: 'project_budget' | 'user_budget';
  budget_usd: number;
  spent_usd: number;
  /** For the held reason (shown to the submitter on the card). */
  held: string;
  /** For the run's error or approval request. */
  message: string;
}

/**
 * Which monthly budget stands in the way of a run of `projectId` by `userId`, the project's first;
 * null when neither is used up (or set). At most two cheap reads when no budget is set.
 */
export async function budgetReached(
  db: Db,
  run: { projectId: string; projectSettings: unknown; userId: string; userBudget?: number | null },
): Promise<BudgetReached | null> {
  const at = new Date();
  const projectBudget = projectBudgetOf(run.projectSettings);
  if (projectBudget !== null) {
    const spent = (await projectsSpend(db, [run.projectId], at)).get(run.projectId) ?? 0;
    if (spent >= projectBudget) {
      const figures = `${usd(spent)} of ${usd(projectBudget)} this month`;
      return {
        limit: 'project_budget',
        budget_usd: projectBudget,
        spent_usd: spent,
        held: `project budget reached (${figures})`,
        message: `project budget reached: ${figures} (settings.budget_usd_month)`,
      };
    }
  }
  const userBudget = run.userBudget !== undefined ? run.userBudget : await userBudgetOf(db, run.userId);
  if (userBudget === null) return null;
  const spent = await userSpend(db, run.userId, at);
  if (spent < userBudget) return null;
  const figures = `${usd(spent)} of ${usd(userBudget)} this month`;
  return {
    limit: 'user_budget',
    budget_usd: userBudget,
    spent_usd: spent,
    held: `your monthly budget reached (${figures})`,
    message: `monthly budget of user '${run.userId}' reached: ${figures}`,
  };
}

async function userBudgetOf(db: Db, userId: string): Promise<number | null> {
  const rows = await db.$queryRaw<Array<{ budget: number | null }>>`
    SELECT budget_usd_month AS budget FROM users WHERE id = ${userId}`;
  return rows[0]?.budget ?? null;
}

/**
 * The monthly budget a started run has used up, read afresh (a raised budget counts at once): the
 * worker asks after each of the run's usage reports, whose cost is already stored.
 */
export async function runBudgetReached(db: Db, executionId: string): Promise<BudgetReached | null> {
  const rows = await db.$queryRaw<
    Array<{ project_id: string; settings: unknown; user_id: string; user_budget: number | null }>
  >`
    SELECT t.project_id::text AS project_id, p.settings, e.user_id, u.budget_usd_month AS user_budget
      FROM executions e JOIN tasks t ON t.id = e.task_id JOIN projects p ON p.id = t.project_id
      JOIN users u ON u.id = e.user_id
     WHERE e.id = ${executionId}::uuid`;
  const row = rows[0];
  if (!row) return null;
  return budgetReached(db, {
    projectId: row.project_id,
    projectSettings: row.settings,
    userId: row.user_id,
    userBudget: row.user_budget,
  });
}
