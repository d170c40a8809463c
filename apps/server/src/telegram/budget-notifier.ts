import {
  BUDGET_WARNING_PERCENT,
  budgetPercent,
  type CoreDeps,
  type ExecutionChange,
  monthKey,
  projectBudgetOf,
  projectsSpend,
  usd,
} from '@ccl/core';
import type { Api, RawApi } from 'grammy';
import { followerMayView } from './notifier.ts';
import type { ChatPacer } from './pacer.ts';

/** A task's project is looked at most this often; a change within it is looked at when it ends. */
const CHECK_EVERY_MS = 5_000;

type Logger = Pick<CoreDeps['log'], 'warn'>;

/**
 * Tells the chats that follow a project (or any of its tasks) once per calendar month when the
 * project's spend crosses 80 % of its `budget_usd_month`. Run by the bot's leader beside the task
 * notifier, on the same execution changes; the month's `budget_notices` row, inserted before
 * sending, makes it once per month across processes and restarts.
 */
export class BudgetNotifier {
  private readonly lastCheck = new Map<string, number>();
  private readonly later = new Map<string, NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private active = false;

  constructor(
    private readonly deps: CoreDeps,
    private readonly api: Api<RawApi>,
    private readonly pacer: ChatPacer,
    private readonly log: Logger,
  ) {}

  setActive(active: boolean): void {
    this.active = active;
    if (active) return;
    for (const t of this.later.values()) clearTimeout(t);
    this.later.clear();
  }

  onChange(change: Pick<ExecutionChange, 'taskId'>): void {
    if (!this.active || this.later.has(change.taskId)) return;
    // A run reports usage often; its task's project is looked at once per interval, and after the last change.
    const wait = (this.lastCheck.get(change.taskId) ?? 0) + CHECK_EVERY_MS - Date.now();
    if (wait <= 0) {
      this.run(change.taskId);
      return;
    }
    const timer = setTimeout(() => {
      this.later.delete(change.taskId);
      if (this.active) this.run(change.taskId);
    }, wait);
    timer.unref();
    this.later.set(change.taskId, timer);
  }

  /** Settles when no check is under way (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running]);
  }

  private run(taskId: string): void {
    this.lastCheck.set(taskId, Date.now());
    if (this.lastCheck.size > 10_000) this.lastCheck.clear();
    const check = this.check(taskId)
      .catch((err) => this.log.warn({ err, taskId }, 'telegram: the budget check failed'))
      .finally(() => this.running.delete(check));
    this.running.add(check);
  }

  private async check(taskId: string): Promise<void> {
    const { prisma, config } = this.deps;
    const month = monthKey();
    const rows = await prisma.$queryRaw<Array<{ id: string; slug: string; settings: unknown }>>`
      SELECT p.id::text AS id, p.slug, p.settings FROM tasks t JOIN projects p ON p.id = t.project_id
       WHERE t.id = ${taskId}::uuid
         AND NOT EXISTS (SELECT 1 FROM budget_notices n
                          WHERE n.project_id = p.id AND n.month = ${month} AND n.percent = ${BUDGET_WARNING_PERCENT})`;
    const project = rows[0];
    const budget = project ? projectBudgetOf(project.settings) : null;
    if (!project || budget === null) return;
    const spent = (await projectsSpend(prisma, [project.id])).get(project.id) ?? 0;
    const percent = budgetPercent(spent, budget);
    if (percent < BUDGET_WARNING_PERCENT) return;
    const claimed = await prisma.budgetNotice.createMany({
      data: [{ projectId: project.id, month, percent: BUDGET_WARNING_PERCENT }],
      skipDuplicates: true,
    });
    if (claimed.count === 0) return;
    const follows = await prisma.$queryRaw<Array<{ chat_id: bigint; user_id: string }>>`
      SELECT f.chat_id, f.user_id FROM telegram_follows f
       WHERE f.project_id = ${project.id}::uuid
          OR f.task_id IN (SELECT id FROM tasks WHERE project_id = ${project.id}::uuid)
       ORDER BY f.created_at`;
    const chats = new Map<string, number>();
    for (const f of follows) {
      const key = f.chat_id.toString();
      if (!chats.has(key) && (await followerMayView(this.deps, f.user_id, project.id)))
        chats.set(key, Number(f.chat_id));
    }
    const board = config.PUBLIC_URL
      ? `\n${config.PUBLIC_URL.replace(/\/+$/, '')}/projects/${encodeURIComponent(project.slug)}`
      : '';
    const text =
      `💰 Project ${project.slug} has used ${percent} % of its monthly budget ` +
      `(${usd(spent)} of ${usd(budget)} in ${month}). At 100 % its new runs wait and running ones ask to go on.${board}`;
    for (const chat of chats.values()) void this.pacer.run(chat, () => this.api.sendMessage(chat, text));
  }
}
