import { randomBytes } from 'node:crypto';
import {
  approvalRequestHash,
  approvalRequestOf,
  type CoreDeps,
  costOf,
  type ExecutionChange,
  has,
  lastApprovalDecision,
  loadUserActor,
  makeCtx,
  oneLine,
  projectsInReach,
} from '@ccl/core';
import type { Prisma } from '@ccl/db';
import type { Api, RawApi } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import type { ChatPacer } from './pacer.ts';
import { renderApproval, renderDecided, renderTask, type TaskView } from './render.ts';

/** Another process asks the bot's leader to bring a task's messages up to date (payload: task id). */
export const TELEGRAM_REFRESH = 'ccl_telegram';

export const approveData = (id: string, approved: boolean) => `ap:${id}:${approved ? 'y' : 'n'}`;
export const APPROVE_DATA = /^ap:([A-Za-z0-9_-]{16}):([yn])$/;

const keyboard = (id: string): InlineKeyboardMarkup => ({
  inline_keyboard: [
    [
      { text: '✅ Approve', callback_data: approveData(id, true) },
      { text: '❌ Deny', callback_data: approveData(id, false) },
    ],
  ],
});

const taskInclude = {
  project: { select: { id: true, slug: true } },
  executions: { orderBy: { createdAt: 'desc' }, take: 1 },
} satisfies Prisma.TaskInclude;
type TaskRow = Prisma.TaskGetPayload<{ include: typeof taskInclude }>;
type ExecutionRow = TaskRow['executions'][number];

type Logger = Pick<CoreDeps['log'], 'warn' | 'error'>;

/**
 * Keeps the chats that follow a task up to date, run by the bot's leader only: one message per
 * task and chat, edited in place as the task's newest run moves; a separate message with Approve /
 * Deny buttons for each request a run waits on, edited to say who decided once it is decided
 * (here, on the board or through the API). A task's refreshes run one at a time, and changes that
 * arrive meanwhile fold into the next one.
 */
export class TaskNotifier {
  private readonly running = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private active = false;

  constructor(
    private readonly deps: CoreDeps,
    private readonly api: Api<RawApi>,
    private readonly pacer: ChatPacer,
    private readonly log: Logger,
  ) {}

  setActive(active: boolean): void {
    this.active = active;
  }

  onChange(change: Pick<ExecutionChange, 'taskId'>): void {
    if (this.active) this.schedule(change.taskId);
  }

  /** Brings a task's messages up to date; resolves when done (tests and `/run` wait on it). */
  schedule(taskId: string): Promise<void> {
    const busy = this.running.get(taskId);
    if (busy) {
      this.dirty.add(taskId);
      return busy;
    }
    const run = (async () => {
      do {
        this.dirty.delete(taskId);
        try {
          await this.refresh(taskId);
        } catch (err) {
          this.log.warn({ err, taskId }, 'telegram: refreshing a task message failed');
        }
      } while (this.dirty.has(taskId) && this.active);
    })().finally(() => this.running.delete(taskId));
    this.running.set(taskId, run);
    return run;
  }

  /** Settles when no refresh is under way (shutdown). */
  async idle(): Promise<void> {
    while (this.running.size) await Promise.allSettled([...this.running.values()]);
  }

  private async refresh(taskId: string): Promise<void> {
    const { prisma } = this.deps;
    // Most changes concern tasks no chat follows: one cheap question first.
    const followed = await prisma.$queryRaw<Array<{ one: number }>>`
      SELECT 1 AS one FROM telegram_follows f JOIN tasks t ON t.id = ${taskId}::uuid
      WHERE f.task_id = t.id OR f.project_id = t.project_id LIMIT 1`;
    if (followed.length === 0) return;
    const task = await prisma.task.findUnique({
      where: { id: taskId },
      include: taskInclude,
    });
    if (!task) return;
    const follows = await prisma.telegramFollow.findMany({
      where: { OR: [{ taskId }, { projectId: task.projectId }] },
      orderBy: { createdAt: 'asc' },
    });
    if (follows.length === 0) return;
    const chats = new Map<string, bigint>();
    for (const f of follows) {
      const key = f.chatId.toString();
      if (!chats.has(key) && (await followerMayView(this.deps, f.userId, task.projectId)))
        chats.set(key, f.chatId);
    }
    const view = await this.viewOf(task);
    const text = renderTask(view);
    const execution = task.executions[0] ?? null;
    await Promise.all(
      [...chats.values()].map(async (chatId) => {
        await this.upsertTaskMessage(chatId, task.id, text);
        if (execution) await this.syncApprovals(chatId, task, execution);
      }),
    );
    if (execution) await this.closeDecidedApprovals(execution.id, execution.state, execution.pendingApproval);
  }

  private async viewOf(task: TaskRow): Promise<TaskView> {
    const { prisma, config } = this.deps;
    const e = task.executions[0] ?? null;
    let lastProgress: string | null = null;
    if (e && (e.state === 'RUNNING' || e.state === 'PLANNING')) {
      const event = await prisma.executionEvent.findFirst({
        where: { executionId: e.id, type: { in: ['progress', 'status', 'tool_call', 'message'] } },
        orderBy: { seq: 'desc' },
      });
      lastProgress = event ? progressLine(event.type, event.data) : null;
    }
    const pr = await prisma.pullRequest.findFirst({
      where: { taskId: task.id },
      orderBy: { createdAt: 'desc' },
    });
    return {
      number: task.number,
      id: task.id,
      title: task.title,
      project: task.project.slug,
      execution: e && {
        number: e.number,
        state: e.state,
        agentType: e.agentType,
        error: e.error,
        result: e.result,
        costUsd: costOf(e.usage),
        startedAt: e.startedAt,
        finishedAt: e.finishedAt,
        waitingOn: e.state === 'WAITING' ? approvalRequestOf(e.pendingApproval) : null,
      },
      lastProgress,
      pullRequestUrl: pr?.url ?? null,
      boardUrl: config.PUBLIC_URL ? `${config.PUBLIC_URL.replace(/\/+$/, '')}/tasks/${task.number}` : null,
    };
  }

  private async upsertTaskMessage(chatId: bigint, taskId: string, text: string): Promise<void> {
    const { prisma } = this.deps;
    const chat = Number(chatId);
    const known = await prisma.telegramTaskMessage.findUnique({
      where: { chatId_taskId: { chatId, taskId } },
    });
    if (known?.text === text) return;
    if (known) {
      const edited = await this.pacer.run(
        chat,
        async () => {
          try {
            await this.api.editMessageText(chat, known.messageId, text, {
              link_preview_options: { is_disabled: true },
            });
            return 'edited' as const;
          } catch (err) {
            const description = (err as { description?: string }).description ?? '';
            if (description.includes('message is not modified')) return 'edited' as const;
            if (description.includes('message to edit not found')) return 'gone' as const;
            throw err;
          }
        },
        `task:${chat}:${taskId}`,
      );
      if (edited === 'edited') {
        await prisma.telegramTaskMessage.updateMany({ where: { chatId, taskId }, data: { text } });
        return;
      }
      if (edited !== 'gone') return;
    }
    // No message yet (or the person deleted it): a new one.
    const sent = await this.pacer.run(chat, () =>
      this.api.sendMessage(chat, text, { link_preview_options: { is_disabled: true } }),
    );
    if (!sent) return;
    await prisma.telegramTaskMessage.upsert({
      where: { chatId_taskId: { chatId, taskId } },
      create: { chatId, taskId, messageId: sent.message_id, text },
      update: { messageId: sent.message_id, text },
    });
  }

  /** A WAITING run's request gets one message with buttons per chat; a later request gets its own. */
  private async syncApprovals(chatId: bigint, task: TaskRow, execution: ExecutionRow): Promise<void> {
    if (execution.state !== 'WAITING') return;
    const request = approvalRequestOf(execution.pendingApproval);
    if (!request) return;
    const { prisma, config } = this.deps;
    const requestHash = approvalRequestHash(execution.pendingApproval);
    const requestedAt = request.requestedAt ? new Date(request.requestedAt) : new Date();
    const expiresAt = new Date(requestedAt.getTime() + config.APPROVAL_TIMEOUT_S * 1000);
    const id = randomBytes(12).toString('base64url');
    const text = renderApproval(
      { number: task.number, title: task.title, project: task.project.slug },
      { number: execution.number, userId: execution.userId },
      request,
      expiresAt,
    );
    const created = await prisma.telegramApproval.createMany({
      data: [{ id, executionId: execution.id, requestHash, chatId, expiresAt, text }],
      skipDuplicates: true,
    });
    if (created.count === 0) return;
    const chat = Number(chatId);
    const sent = await this.pacer.run(chat, () =>
      this.api.sendMessage(chat, text, { reply_markup: keyboard(id) }),
    );
    if (sent) await prisma.telegramApproval.update({ where: { id }, data: { messageId: sent.message_id } });
  }

  /**
   * Requests no longer pending (decided anywhere, or the run moved on): their messages say who
   * decided, and lose their buttons. The first decision is the one the run's state event recorded.
   */
  private async closeDecidedApprovals(executionId: string, state: string, pending: unknown): Promise<void> {
    const { prisma } = this.deps;
    const currentHash = state === 'WAITING' ? approvalRequestHash(pending) : null;
    const open = await prisma.telegramApproval.findMany({
      where: { executionId, decidedAt: null, ...(currentHash ? { NOT: { requestHash: currentHash } } : {}) },
    });
    if (open.length === 0) return;
    const decision = await lastApprovalDecision(this.deps, executionId);
    const outcome = decision
      ? `${decision.approved ? '✅ Approved' : '❌ Denied'} by ${decision.by ?? 'someone'}${
          decision.comment ? `: ${oneLine(decision.comment, 500)}` : ''
        }`
      : `No longer waiting: the run is ${state.toLowerCase()}.`;
    for (const row of open) {
      const claimed = await prisma.telegramApproval.updateMany({
        where: { id: row.id, decidedAt: null },
        data: {
          decidedAt: new Date(),
          decidedBy: decision?.by ?? null,
          decision: decision ? (decision.approved ? 'approved' : 'denied') : 'lapsed',
        },
      });
      if (claimed.count === 0 || row.messageId === null) continue;
      const chat = Number(row.chatId);
      const messageId = row.messageId;
      // Without reply_markup, the edit also removes the buttons.
      void this.pacer.run(chat, () =>
        this.api.editMessageText(chat, messageId, renderDecided(row.text, outcome)),
      );
    }
  }
}

/** Checked before every message: the follower's permissions and project membership now. */
export async function followerMayView(deps: CoreDeps, userId: string, projectId: string): Promise<boolean> {
  const actor = await loadUserActor(deps, userId, 'telegram');
  if (!actor) return false;
  const ctx = makeCtx(actor);
  if (!has(ctx, 'task:view')) return false;
  const reach = projectsInReach(ctx);
  if (!reach) return true;
  return (await deps.prisma.project.count({ where: { AND: [{ id: projectId }, reach] } })) > 0;
}

function progressLine(type: string, data: unknown): string | null {
  const d = (data ?? {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  switch (type) {
    case 'progress':
      return oneLine(`${d.step}/${d.total} ${str(d.message) ?? ''}`);
    case 'status':
      return str(d.message) ? oneLine(str(d.message) as string) : str(d.phase);
    case 'tool_call': {
      const input = (d.input ?? {}) as Record<string, unknown>;
      const what = str(input.command) ?? str(input.path) ?? str(input.file_path) ?? '';
      return oneLine(`${str(d.name) ?? 'tool'} ${what}`);
    }
    case 'message':
      return str(d.text) ? oneLine(str(d.text) as string) : null;
    default:
      return null;
  }
}
