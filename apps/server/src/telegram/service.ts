import { createHmac } from 'node:crypto';
import { type CoreDeps, sameSecret } from '@ccl/core';
import { autoRetry } from '@grammyjs/auto-retry';
import { Bot, GrammyError, HttpError } from 'grammy';
import type { Update } from 'grammy/types';
import type { EventHub } from '../event-hub.ts';
import { LeaderLock } from '../leader-lock.ts';
import { BudgetNotifier } from './budget-notifier.ts';
import { BOT_COMMANDS, type BotContext, registerCommands } from './commands.ts';
import { TaskNotifier, TELEGRAM_REFRESH } from './notifier.ts';
import { ChatPacer } from './pacer.ts';

/** The advisory lock key of the bot's leader (one process polls Telegram and sends notifications). */
const LEADER_KEY = 0x7e1e_67a3n;
const ALLOWED_UPDATES = ['message', 'callback_query'] as const;

/** grammy types its signals with the abort-controller package's AbortSignal; Node's is the same at run time. */
type GrammySignal = Parameters<Bot['init']>[0];
const grammySignal = (signal: AbortSignal) => signal as unknown as GrammySignal;

interface Subscriber {
  subscribe(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
}

type Log = CoreDeps['log'] & { debug?(obj: object, msg?: string): void };

/** The webhook's secret token: TELEGRAM_WEBHOOK_SECRET, or one derived from the bot token. */
export function webhookSecret(config: CoreDeps['config']): string {
  return (
    config.TELEGRAM_WEBHOOK_SECRET ??
    createHmac('sha256', config.TELEGRAM_BOT_TOKEN ?? '')
      .update('clawlink telegram webhook')
      .digest('base64url')
  );
}

/** Constant-time comparison of a webhook's X-Telegram-Bot-Api-Secret-Token. */
export function webhookSecretMatches(config: CoreDeps['config'], given: unknown): boolean {
  return sameSecret(given, webhookSecret(config));
}

/**
 * The Telegram bot of an API process (on when TELEGRAM_BOT_TOKEN is set). Every API process can
 * take webhook updates; one of them, the leader (a PostgreSQL advisory lock), long-polls Telegram
 * when no webhook is configured, registers the webhook and the command list when one is, and
 * sends the task notifications. Each update_id is handled once, whichever way it came. Nothing here
 * is on an execution's path: the worker never waits on Telegram.
 */
export class TelegramService {
  readonly bot: Bot<BotContext>;
  readonly pacer: ChatPacer;
  readonly notifier: TaskNotifier;
  /** Tells a project's followers when it has used 80 % of its monthly budget. */
  readonly budgets: BudgetNotifier;
  private readonly lock: LeaderLock;
  private polling: AbortController | null = null;
  private pollLoop: Promise<void> | null = null;
  private readonly offs: Array<() => unknown> = [];
  private readonly inFlight = new Set<Promise<void>>();
  private stopped = false;

  constructor(
    private readonly deps: CoreDeps,
    private readonly opts: { databaseUrl: string; log: Log; standbyRetryMs?: number },
  ) {
    const { config } = deps;
    this.bot = new Bot<BotContext>(config.TELEGRAM_BOT_TOKEN as string, {
      client: { apiRoot: config.TELEGRAM_API_ROOT },
    });
    // 429s wait retry_after and try again. Network errors and 5xx come back here: the plugin would
    // retry them with a backoff growing to an hour, past the end of an outage.
    this.bot.api.config.use(
      autoRetry({
        maxRetryAttempts: 8,
        maxDelaySeconds: 300,
        rethrowHttpErrors: true,
        rethrowInternalServerErrors: true,
      }),
    );
    this.pacer = new ChatPacer(
      config.TELEGRAM_CHAT_INTERVAL_MS,
      (err, chatId) =>
        opts.log.warn({ err: describeError(err), chatId }, 'telegram: a message could not be sent'),
      isTransient,
    );
    this.notifier = new TaskNotifier(deps, this.bot.api, this.pacer, opts.log);
    this.budgets = new BudgetNotifier(deps, this.bot.api, this.pacer, opts.log);
    registerCommands(this.bot, { deps, pacer: this.pacer, notifier: this.notifier, telegram: this });
    this.bot.catch((err) => opts.log.error({ err: describeError(err.error) }, 'telegram: an update failed'));
    this.lock = new LeaderLock({
      url: opts.databaseUrl,
      key: LEADER_KEY,
      retryMs: opts.standbyRetryMs ?? 5000,
      log: opts.log,
      onAcquire: () => this.lead(),
      onLose: () => this.standDown(),
    });
  }

  get isLeader(): boolean {
    return this.lock.isLeader;
  }

  private lastInitTry = 0;

  /**
   * The bot's @username (getMe, once); null while Telegram cannot be reached. A failed getMe is
   * not tried again for 30 s, so an outage does not slow every request that wants the name.
   */
  async username(): Promise<string | null> {
    if (!this.bot.isInited()) {
      if (Date.now() - this.lastInitTry < 30_000) return null;
      this.lastInitTry = Date.now();
    }
    try {
      await this.initBot(5000);
      return this.bot.botInfo.username;
    } catch {
      return null;
    }
  }

  private async initBot(timeoutMs: number): Promise<void> {
    if (this.bot.isInited()) return;
    await this.bot.init(grammySignal(AbortSignal.timeout(timeoutMs)));
  }

  async start(hub: EventHub, subscriber: Subscriber): Promise<void> {
    this.offs.push(hub.on('*', (change) => this.notifier.onChange(change)));
    this.offs.push(hub.on('*', (change) => this.budgets.onChange(change)));
    this.offs.push(
      await subscriber.subscribe(TELEGRAM_REFRESH, (taskId) => this.notifier.onChange({ taskId })),
    );
    this.lock.start();
  }

  private async lead(): Promise<void> {
    const { config } = this.deps;
    this.opts.log.info(
      { mode: config.TELEGRAM_WEBHOOK_URL ? 'webhook' : 'polling' },
      'telegram: this process runs the bot',
    );
    this.notifier.setActive(true);
    this.budgets.setActive(true);
    const abort = new AbortController();
    this.polling = abort;
    this.pollLoop = (async () => {
      // Telegram may be unreachable at start: keep trying in the background, never hold the server.
      for (let delay = 1000; !abort.signal.aborted; delay = Math.min(delay * 2, 60_000)) {
        try {
          await this.initBot(30_000);
          await this.bot.api.setMyCommands(BOT_COMMANDS);
          if (config.TELEGRAM_WEBHOOK_URL) {
            await this.bot.api.setWebhook(config.TELEGRAM_WEBHOOK_URL, {
              secret_token: webhookSecret(config),
              allowed_updates: [...ALLOWED_UPDATES],
            });
          } else {
            await this.bot.api.deleteWebhook();
          }
          break;
        } catch (err) {
          if (abort.signal.aborted) return;
          this.opts.log.warn({ err: describeError(err) }, 'telegram: bot setup failed; retrying');
          await sleep(delay, abort.signal);
        }
      }
      await this.processLeftovers();
      // Webhook updates another api process stored but did not get to handle (it stopped).
      const sweep = setInterval(() => {
        this.processLeftovers().catch((err) =>
          this.opts.log.warn({ err: describeError(err) }, 'telegram: leftover updates not handled'),
        );
      }, 60_000);
      sweep.unref();
      abort.signal.addEventListener('abort', () => clearInterval(sweep));
      if (!config.TELEGRAM_WEBHOOK_URL) await this.poll(abort.signal);
    })().catch((err) => this.opts.log.error({ err: describeError(err) }, 'telegram: the bot stopped'));
  }

  private async standDown(): Promise<void> {
    this.notifier.setActive(false);
    this.budgets.setActive(false);
    this.polling?.abort();
    this.polling = null;
    await this.pollLoop;
    this.pollLoop = null;
  }

  /** Long polling: getUpdates, each update recorded once and handled in order. */
  private async poll(signal: AbortSignal): Promise<void> {
    let offset: number | undefined;
    let backoff = 1000;
    while (!signal.aborted) {
      let updates: Update[];
      try {
        updates = await this.bot.api.getUpdates(
          { timeout: 25, allowed_updates: [...ALLOWED_UPDATES], ...(offset !== undefined ? { offset } : {}) },
          grammySignal(signal),
        );
        backoff = 1000;
      } catch (err) {
        if (signal.aborted) return;
        const wait =
          err instanceof GrammyError && err.error_code === 429
            ? (err.parameters.retry_after ?? 5) * 1000
            : err instanceof GrammyError && err.error_code === 409
              ? 5000
              : backoff;
        this.opts.log.warn({ err: describeError(err), retry_in_ms: wait }, 'telegram: getUpdates failed');
        backoff = Math.min(backoff * 2, 30_000);
        await sleep(wait, signal);
        continue;
      }
      for (const update of updates) {
        offset = update.update_id + 1;
        const status = await this.record(update);
        if (status === 'accepted') await this.handle(update);
      }
    }
  }

  /** Stores the update unless its update_id was seen before. */
  private async record(update: Update): Promise<'accepted' | 'duplicate'> {
    const inserted = await this.deps.prisma.$executeRaw`
      INSERT INTO telegram_updates (update_id, payload) VALUES (${update.update_id}, ${JSON.stringify(update)}::jsonb)
      ON CONFLICT (update_id) DO NOTHING`;
    return inserted === 1 ? 'accepted' : 'duplicate';
  }

  private async handle(update: Update): Promise<void> {
    try {
      await this.initBot(30_000);
      await this.bot.handleUpdate(update);
    } catch (err) {
      this.opts.log.error(
        { err: describeError(err), update_id: update.update_id },
        'telegram: an update failed',
      );
    } finally {
      await this.deps.prisma.telegramUpdate
        .update({ where: { updateId: BigInt(update.update_id) }, data: { processedAt: new Date() } })
        .catch(() => {});
    }
  }

  /** A webhook delivery: recorded at once, handled after the answer. */
  async receive(update: Update): Promise<'accepted' | 'duplicate'> {
    const status = await this.record(update);
    if (status === 'accepted' && !this.stopped) {
      const job = this.handle(update).finally(() => this.inFlight.delete(job));
      this.inFlight.add(job);
    }
    return status;
  }

  /**
   * Updates recorded by a process that stopped before handling them; and the record of handled
   * ones is kept a week (Telegram's update ids only grow, and it keeps an update at most 24 hours).
   */
  private async processLeftovers(): Promise<void> {
    await this.deps.prisma.telegramUpdate.deleteMany({
      where: { processedAt: { lt: new Date(Date.now() - 7 * 24 * 3600_000) } },
    });
    const rows = await this.deps.prisma.telegramUpdate.findMany({
      where: { processedAt: null, receivedAt: { lt: new Date(Date.now() - 60_000) } },
      orderBy: { updateId: 'asc' },
      take: 500,
    });
    for (const row of rows) await this.handle(row.payload as unknown as Update);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const off of this.offs.splice(0)) await off();
    await this.lock.stop();
    // Messages still waiting their turn are dropped; a call stuck retrying against a Telegram
    // outage is not waited for past a few seconds (a later change re-sends the task's state).
    this.pacer.close();
    await Promise.race([
      Promise.allSettled([...this.inFlight, this.notifier.idle(), this.budgets.idle()]),
      new Promise((r) => setTimeout(r, 3000).unref()),
    ]);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Worth another try: the network, or Telegram's own 5xx. */
export function isTransient(err: unknown): boolean {
  return err instanceof HttpError || (err instanceof GrammyError && err.error_code >= 500);
}

const TOKEN_IN_URL = /bot\d+:[A-Za-z0-9_-]+/g;

/**
 * An error for the log. A network error's message carries the request URL, whose path holds the
 * bot token: it is cut out.
 */
export function describeError(err: unknown): string {
  const text =
    err instanceof GrammyError
      ? `${err.method}: ${err.error_code} ${err.description}`
      : err instanceof HttpError
        ? `network: ${(err.error as Error)?.message ?? String(err.error)}`
        : err instanceof Error
          ? err.message
          : String(err);
  return text.replace(TOKEN_IN_URL, 'bot[redacted]');
}
