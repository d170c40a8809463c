import {
  type CoreDeps,
  cancelExecution,
  createTask,
  DomainError,
  decideApproval,
  getTask,
  INBOX,
  LinkRefused,
  lastApprovalDecision,
  listAgents,
  listProjects,
  listTasks,
  oneLine,
  type RequestCtx,
  redeemTelegramLinkCode,
  telegramCtx,
  titleFor,
  unlinkTelegram,
} from '@ccl/core';
import type { Bot, Context, NextFunction } from 'grammy';
import type { Message } from 'grammy/types';
import { APPROVE_DATA, type TaskNotifier, TELEGRAM_REFRESH } from './notifier.ts';
import type { ChatPacer } from './pacer.ts';

/** What `setMyCommands` tells clients; `/help` prints the same. */
export const BOT_COMMANDS = [
  { command: 'tasks', description: 'Recent tasks, optionally of one project: /tasks [project]' },
  { command: 'task', description: 'One task: /task <number or id>' },
  { command: 'run', description: 'Start a task here: /run [agent] <prompt>' },
  { command: 'project', description: "Choose this chat's project: /project <slug>" },
  { command: 'projects', description: 'Projects you can reach' },
  { command: 'cancel', description: "Cancel a task's run: /cancel <number or id>" },
  { command: 'follow', description: 'Get updates: /follow <project or task>' },
  { command: 'unfollow', description: 'Stop updates: /unfollow <project or task>' },
  { command: 'agents', description: 'Agents and whether they can run' },
  { command: 'whoami', description: 'Who this Telegram account acts as' },
  { command: 'link', description: 'Link this account: /link <code>' },
  { command: 'unlink', description: 'Unlink this Telegram account' },
  { command: 'help', description: 'What the bot can do' },
];

const OPEN_COMMANDS = new Set(['start', 'link', 'help']);
const HOW_TO_LINK =
  'This Telegram account is not linked to a CoderClawLink user. On the board open My account → Telegram ' +
  '(or ask an admin to run: npm run clawlink -- telegram link <user>), then send me /link <code> in a private chat.';

export type BotContext = Context & { portal?: RequestCtx | null };

interface Tools {
  deps: CoreDeps;
  pacer: ChatPacer;
  notifier: TaskNotifier;
  telegram: { isLeader: boolean };
}

/** A command's name and arguments, or null for plain text. Groups: only commands addressed to the bot. */
function commandOf(message: Message, botUsername: string): { name: string; args: string } | null {
  const text = message.text ?? '';
  const entity = message.entities?.[0];
  if (entity?.type !== 'bot_command' || entity.offset !== 0) return null;
  const [name = '', target] = text.slice(1, entity.length).split('@');
  if (target && target.toLowerCase() !== botUsername.toLowerCase()) return null;
  if (
    message.chat.type !== 'private' &&
    !target &&
    message.reply_to_message?.from?.username !== botUsername
  ) {
    return null;
  }
  return { name: name.toLowerCase(), args: text.slice(entity.length).trim() };
}

export function registerCommands(bot: Bot<BotContext>, tools: Tools): void {
  const { deps } = tools;

  const reply = (ctx: BotContext, text: string) => {
    const chatId = ctx.chat?.id;
    if (chatId === undefined) return Promise.resolve(undefined);
    const messageId = ctx.message?.message_id;
    return tools.pacer.run(chatId, () =>
      ctx.api.sendMessage(chatId, text.length > 4096 ? `${text.slice(0, 4095)}…` : text, {
        link_preview_options: { is_disabled: true },
        ...(messageId && ctx.chat?.type !== 'private'
          ? { reply_parameters: { message_id: messageId, allow_sending_without_reply: true } }
          : {}),
      }),
    );
  };

  // Who is acting: the linked user with the permissions they hold now, read for every update.
  bot.use(async (ctx: BotContext, next: NextFunction) => {
    const from = ctx.from;
    ctx.portal =
      from && !from.is_bot ? await telegramCtx(deps, from.id, `telegram-${ctx.update.update_id}`) : null;
    await next();
  });

  bot.on('callback_query:data', async (ctx) => {
    const match = APPROVE_DATA.exec(ctx.callbackQuery.data);
    const answer = (text: string) => ctx.answerCallbackQuery({ text, show_alert: true }).catch(() => {});
    if (!match) return answer('This button is no longer valid.');
    if (!ctx.portal) return answer(HOW_TO_LINK);
    const [, id = '', verdict] = match;
    await answer(await decide(deps, ctx.portal, { id }, verdict === 'y', undefined));
  });

  bot.on('message', async (ctx) => {
    const message = ctx.message;
    const me = ctx.me.username;
    const command = commandOf(message, me);
    const repliedTo = message.reply_to_message;
    const toBot = repliedTo?.from?.id === ctx.me.id;
    if (!command) {
      // Plain text: a reply to an approval message denies with it as the comment.
      if (toBot && repliedTo && message.text) {
        if (!ctx.portal) return void (await reply(ctx, HOW_TO_LINK));
        const outcome = await decide(
          deps,
          ctx.portal,
          { chatId: message.chat.id, messageId: repliedTo.message_id },
          false,
          message.text,
        );
        return void (await reply(ctx, outcome));
      }
      if (message.chat.type === 'private') await reply(ctx, 'Send a command; /help lists them.');
      return;
    }
    if (!ctx.portal && !OPEN_COMMANDS.has(command.name)) return void (await reply(ctx, HOW_TO_LINK));
    try {
      const text = await runCommand(ctx, command.name, command.args, toBot ? repliedTo : undefined);
      if (text) await reply(ctx, text);
    } catch (err) {
      if (err instanceof DomainError) return void (await reply(ctx, oneLine(err.message, 500)));
      throw err;
    }
  });

  async function runCommand(
    ctx: BotContext,
    name: string,
    args: string,
    repliedTo: Message | undefined,
  ): Promise<string | null> {
    const message = ctx.message as Message;
    const portal = ctx.portal as RequestCtx;
    switch (name) {
      case 'start':
      case 'link': {
        if (!args)
          return ctx.portal
            ? `You act as ${ctx.portal.actor.userId}. /help lists the commands.`
            : HOW_TO_LINK;
        if (message.chat.type !== 'private' || !message.from)
          return 'Link in a private chat with me, not in a group.';
        try {
          const { userId } = await redeemTelegramLinkCode(deps, args, {
            id: message.from.id,
            username: message.from.username,
          });
          return `Linked: this Telegram account now acts as ${userId}. /help lists the commands.`;
        } catch (err) {
          if (err instanceof LinkRefused) return `Not linked: ${err.message}.`;
          throw err;
        }
      }
      case 'help':
        return [
          'CoderClawLink bot. Commands:',
          ...BOT_COMMANDS.map((c) => `/${c.command} — ${c.description}`),
          'Approve or deny with the buttons under a request, or reply to it: text denies with it as the comment, /approve <comment> approves with one.',
        ].join('\n');
      case 'whoami': {
        const project = await chatProject(deps, message.chat.id);
        return `${portal.actor.userId} (${portal.actor.roleName}); this chat's project: ${project}.`;
      }
      case 'unlink':
        await unlinkTelegram(deps, portal, portal.actor.userId);
        return 'Unlinked. This Telegram account no longer acts for anyone.';
      case 'projects': {
        const projects = await listProjects(deps, portal);
        const current = await chatProject(deps, message.chat.id);
        if (projects.length === 0) return 'No projects yet.';
        return projects
          .map(
            (p) =>
              `${p.slug === current ? '▶' : '•'} ${p.slug} — ${oneLine(p.name, 60)} (${p.task_count} tasks)`,
          )
          .join('\n');
      }
      case 'project': {
        if (!args)
          return `This chat's project is ${await chatProject(deps, message.chat.id)}. Choose one: /project <slug>`;
        const projects = await listProjects(deps, portal);
        const project = projects.find((p) => p.slug === args);
        if (!project) return `No project '${oneLine(args, 64)}' you can reach; /projects lists them.`;
        await deps.prisma.telegramChat.upsert({
          where: { chatId: BigInt(message.chat.id) },
          create: { chatId: BigInt(message.chat.id), projectSlug: project.slug },
          update: { projectSlug: project.slug },
        });
        return `This chat's project is now ${project.slug}; /run starts tasks there.`;
      }
      case 'tasks': {
        const page = await listTasks(deps, portal, { project: args || undefined, limit: 10 });
        if (page.items.length === 0) return args ? `No tasks in ${oneLine(args, 64)}.` : 'No tasks yet.';
        return page.items
          .map(
            (t) =>
              `#${t.number} ${t.latest_execution?.state ?? 'not started'} · ${oneLine(t.title, 80)} · ${t.project_slug}`,
          )
          .join('\n');
      }
      case 'task': {
        if (!args) return 'Which task? /task <number or id>';
        const task = await getTask(deps, portal, refOf(args));
        const e = task.latest_execution;
        return [
          `#${task.number} ${task.title}`,
          `project ${task.project_slug} · ${task.column.replace('_', ' ')} · priority ${task.priority}`,
          e ? `run #${e.number} ${e.state} (${e.agent_type})` : 'not started',
          task.pull_request ? `PR: ${task.pull_request.url}` : null,
        ]
          .filter(Boolean)
          .join('\n');
      }
      case 'run': {
        if (!args) return 'What should the agent do? /run [agent] <prompt>';
        const [first = '', ...rest] = args.split(/\s+/);
        const named = rest.length > 0 && deps.agents.knownTypes().includes(first);
        const agentType = named ? first : 'general-purpose';
        const prompt = named ? args.slice(first.length).trim() : args;
        const project = await chatProject(deps, message.chat.id);
        const task = await createTask(deps, portal, {
          project,
          title: titleFor(prompt, {}),
          prompt,
          agent_type: agentType,
        });
        await follow(deps, message.chat.id, portal.actor.userId, { taskId: task.id });
        await refreshSoon(task.id);
        return null;
      }
      case 'cancel': {
        if (!args) return 'Which task? /cancel <number or id>';
        const task = await getTask(deps, portal, refOf(args));
        const e = task.latest_execution;
        if (!e) return `#${task.number} has no run to cancel.`;
        // Followed first, so the change the cancel makes finds the chat.
        await follow(deps, message.chat.id, portal.actor.userId, { taskId: task.id });
        const { success } = await cancelExecution(deps, portal, e.id);
        await refreshSoon(task.id);
        return success ? `Cancelling #${task.number}…` : `#${task.number} already ended (${e.state}).`;
      }
      case 'follow':
      case 'unfollow': {
        if (!args) return `What? /${name} <project or task number>`;
        const target = await followTarget(deps, portal, args);
        if (name === 'follow') {
          await follow(deps, message.chat.id, portal.actor.userId, target.where);
          if (target.where.taskId) await refreshSoon(target.where.taskId);
          return `This chat now follows ${target.shown}.`;
        }
        const removed = await deps.prisma.telegramFollow.deleteMany({
          where: { chatId: BigInt(message.chat.id), ...target.where },
        });
        return removed.count
          ? `This chat no longer follows ${target.shown}.`
          : `This chat did not follow ${target.shown}.`;
      }
      case 'agents': {
        const agents = await listAgents(deps, portal);
        return agents
          .map(
            (a) =>
              `${a.available ? '✓' : '✗'} ${a.agent_type} — ${oneLine(a.description ?? a.name, 80)}${
                a.available ? '' : ` (${oneLine(String(a.metadata?.reason ?? 'unavailable'), 120)})`
              }`,
          )
          .join('\n');
      }
      case 'approve':
      case 'deny': {
        if (!repliedTo) return `Reply to an approval request with /${name} <comment>.`;
        return decide(
          deps,
          portal,
          { chatId: message.chat.id, messageId: repliedTo.message_id },
          name === 'approve',
          args || undefined,
        );
      }
      default:
        return `Unknown command /${oneLine(name, 40)}; /help lists the commands.`;
    }
  }

  /** The notifier runs in the leader; another process asks it through the bus. */
  async function refreshSoon(taskId: string) {
    if (tools.telegram.isLeader) await tools.notifier.schedule(taskId);
    else await deps.bus.publish(TELEGRAM_REFRESH, taskId);
  }
}

/** `#42`, `42` or a UUID. */
function refOf(arg: string): string {
  return arg.trim().replace(/^#/, '');
}

async function chatProject(deps: CoreDeps, chatId: number): Promise<string> {
  const chat = await deps.prisma.telegramChat.findUnique({ where: { chatId: BigInt(chatId) } });
  return chat?.projectSlug ?? INBOX;
}

async function follow(
  deps: CoreDeps,
  chatId: number,
  userId: string,
  target: { taskId?: string; projectId?: string },
): Promise<void> {
  await deps.prisma.telegramFollow.createMany({
    data: [{ chatId: BigInt(chatId), userId, ...target }],
    skipDuplicates: true,
  });
}

async function followTarget(deps: CoreDeps, ctx: RequestCtx, arg: string) {
  const ref = refOf(arg);
  if (/^\d+$/.test(ref) || /^[0-9a-f-]{36}$/i.test(ref)) {
    const task = await getTask(deps, ctx, ref);
    return { where: { taskId: task.id }, shown: `task #${task.number}` };
  }
  const project = (await listProjects(deps, ctx)).find((p) => p.slug === ref);
  if (!project) throw new DomainError('not_found', `no project or task '${oneLine(arg, 64)}' you can reach`);
  return { where: { projectId: project.id }, shown: `project ${project.slug}` };
}

/**
 * A decision from Telegram, on the request a button or a reply points at. The request must be the
 * one the execution still waits on (the hash of what was shown), unexpired, and the person must
 * hold task:approve in its project now; the first decision wins. Answers one line for the person.
 */
async function decide(
  deps: CoreDeps,
  ctx: RequestCtx,
  where: { id: string } | { chatId: number; messageId: number },
  approved: boolean,
  comment: string | undefined,
): Promise<string> {
  const row =
    'id' in where
      ? await deps.prisma.telegramApproval.findUnique({ where: { id: where.id } })
      : await deps.prisma.telegramApproval.findFirst({
          where: { chatId: BigInt(where.chatId), messageId: where.messageId },
        });
  if (!row) return 'That message is not an approval request; reply to one.';
  if (row.decidedAt) {
    return row.decidedBy
      ? `Already decided by ${row.decidedBy} (${row.decision}).`
      : 'This request is no longer pending.';
  }
  if (row.expiresAt.getTime() <= Date.now()) return 'This request has expired.';
  try {
    await decideApproval(deps, ctx, row.executionId, { approved, comment, requestHash: row.requestHash });
  } catch (err) {
    if (!(err instanceof DomainError)) throw err;
    if (err.code === 'invalid_state') {
      const first = await lastApprovalDecision(deps, row.executionId);
      return first
        ? `Already ${first.approved ? 'approved' : 'denied'} by ${first.by ?? 'someone'}.`
        : 'This request is no longer pending.';
    }
    return oneLine(err.message, 190);
  }
  return `${approved ? 'Approved' : 'Denied'}${comment ? ` with your comment` : ''}.`;
}
