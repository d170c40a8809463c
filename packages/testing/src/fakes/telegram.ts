import { detectEntities } from './telegram-format.ts';
import { TelegramHttp } from './telegram-server.ts';
import { commandsKey, FakeTelegramMessage, TelegramStore } from './telegram-store.ts';
import type {
  FakeCallbackAnswer,
  FakeTelegramCall,
  FakeTelegramChatInput,
  FakeTelegramUserInput,
  FakeWebhookDelivery,
  FakeWebhookInfo,
  TgBotCommand,
  TgBotUser,
  TgChat,
  TgMessageEntity,
  TgUpdate,
} from './telegram-types.ts';
import { postJson, type WebhookRetryOptions } from './telegram-webhook.ts';

export { FakeTelegramMessage } from './telegram-store.ts';
export {
  type FakeCallbackAnswer,
  type FakeTelegramCall,
  type FakeTelegramChatInput,
  type FakeTelegramUserInput,
  type FakeWebhookDelivery,
  type FakeWebhookInfo,
  TelegramApiError,
  type TgBotCommand,
  type TgBotUser,
  type TgCallbackQuery,
  type TgChat,
  type TgChatType,
  type TgInlineKeyboardButton,
  type TgInlineKeyboardMarkup,
  type TgMessage,
  type TgMessageEntity,
  type TgReplyMarkup,
  type TgUpdate,
  type TgUser,
} from './telegram-types.ts';
export type { WebhookRetryOptions } from './telegram-webhook.ts';

export interface FakeTelegramOptions {
  /** Default `123456:AAfake-token-for-tests-000000000000` (shaped like @BotFather's); its digits before `:` are the bot id unless `botId` is given. */
  token?: string;
  botUsername?: string;
  botId?: number;
  botFirstName?: string;
  /** Backoff and timeout of webhook deliveries (defaults 100 ms → 1 s, 30 s). */
  webhookRetry?: WebhookRetryOptions;
  /** Longest a getUpdates is held, in seconds, whatever its `timeout` (default 50). */
  maxPollSeconds?: number;
}

export interface FakeTelegram {
  /** The `apiRoot` for grammy (`${url}/bot${token}/${method}`), e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  readonly token: string;
  /** What `getMe` answers. */
  readonly bot: TgBotUser;
  /** Every API call in arrival order (`status` is filled in when answered). */
  readonly calls: readonly FakeTelegramCall[];
  /** Every update the helpers created, in order. */
  readonly updates: readonly TgUpdate[];
  /** `answerCallbackQuery` calls by callback query id. */
  readonly callbackAnswers: ReadonlyMap<string, FakeCallbackAnswer>;
  /** The webhook as set now, or null in getUpdates mode. */
  readonly webhook: FakeWebhookInfo | null;
  /** Every attempt to deliver an update to a webhook, oldest first. */
  readonly webhookDeliveries: readonly FakeWebhookDelivery[];
  callsTo(method: string): FakeTelegramCall[];
  /** Makes a chat known so the bot may send to it (a number: a private chat with that user). */
  addChat(chat: FakeTelegramChatInput): TgChat;
  /** A user writes `text`: queues a `message` update (entities detected as Telegram does) and returns it. */
  userSays(opts: {
    chat?: FakeTelegramChatInput;
    from?: FakeTelegramUserInput;
    text: string;
    /** message_id in the same chat this message replies to. */
    replyTo?: number;
    entities?: TgMessageEntity[];
  }): TgUpdate;
  /**
   * A user presses an inline button of a bot message: queues a `callback_query` update and returns
   * its id. Throws unless the message's current keyboard has a button with that `callback_data`
   * (`stale: true` presses a button that is gone, as an out-of-date client can).
   */
  press(opts: {
    chat: FakeTelegramChatInput;
    from?: FakeTelegramUserInput;
    messageId: number;
    data: string;
    stale?: boolean;
  }): string;
  /** Queues any other update (`{ edited_message: … }`, `{ my_chat_member: … }`); returns it numbered. */
  pushUpdate(body: Record<string, unknown>): TgUpdate;
  /** The bot's messages in the chat, not deleted, oldest first; `all` adds users' and deleted ones. */
  messages(chatId: number, opts?: { all?: boolean }): FakeTelegramMessage[];
  lastMessage(chatId: number): FakeTelegramMessage | undefined;
  /** Commands set for the scope (default scope) and language (none). */
  commands(scope?: Record<string, unknown>, languageCode?: string): TgBotCommand[];
  /** Updates neither confirmed by getUpdates nor delivered to the webhook. */
  pendingUpdates(): number;
  /** The next `times` matching calls answer 429 `Too Many Requests: retry after N`. */
  rateLimit(opts: { method?: string; chatId?: number | string; times: number; retryAfter: number }): void;
  /** The next `times` (default 1) calls of `method` (`*`: any) fail; `body` sends that raw text instead of JSON. */
  failNext(
    method: string,
    opts: { status: number; description?: string; times?: number; body?: string },
  ): void;
  /** An outage: while down, every request's socket is destroyed and webhook deliveries pause. */
  setDown(down: boolean): void;
  /** POSTs `update` (an object, or raw text) to the webhook URL, with its secret unless `secret` says otherwise (null: none). */
  deliverRaw(
    update: unknown,
    opts?: { secret?: string | null; url?: string },
  ): Promise<{ status: number; body: string; error?: string }>;
  /** Resolves with the predicate's first truthy value; a throwing predicate counts as falsy. */
  waitFor<T>(predicate: () => T, timeoutMs?: number): Promise<NonNullable<T>>;
  /** The newest bot message in the chat that matches (edits included, as the predicate sees it live). */
  waitForMessage(
    chatId: number,
    predicate?: (m: FakeTelegramMessage) => boolean,
    timeoutMs?: number,
  ): Promise<FakeTelegramMessage>;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A stateful loopback Telegram Bot API: real wire protocol, long polling and webhooks. */
export async function startFakeTelegram(opts: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const token = opts.token ?? '123456:AAfake-token-for-tests-000000000000';
  const bot: TgBotUser = {
    id: opts.botId ?? (Number(token.split(':')[0]) || 123456),
    is_bot: true,
    first_name: opts.botFirstName ?? 'ClawLink Test Bot',
    username: opts.botUsername ?? 'clawlink_test_bot',
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
  };
  const store = new TelegramStore(bot);
  const http = new TelegramHttp(token, store, opts.maxPollSeconds ?? 50, opts.webhookRetry ?? {});
  await http.listen();
  const { calls, webhook } = http;

  function recentCalls(): string {
    return calls
      .slice(-15)
      .map(
        (c) =>
          `  ${c.method} → ${c.status}${c.error ? ` (${c.error})` : ''} ${JSON.stringify(c.params).slice(0, 160)}`,
      )
      .join('\n');
  }

  const defaultUser = (chat: FakeTelegramChatInput | undefined): FakeTelegramUserInput => {
    const id = typeof chat === 'number' ? chat : chat?.type === 'private' ? chat.id : 1001;
    const known = store.chats.get(id);
    return {
      id,
      ...(known?.username ? { username: known.username } : {}),
      ...(known?.first_name ? { first_name: known.first_name } : {}),
    };
  };

  const fake: FakeTelegram = {
    url: http.url,
    token,
    bot,
    calls,
    updates: store.updates,
    callbackAnswers: store.callbackAnswers,
    get webhook() {
      return webhook.info;
    },
    webhookDeliveries: webhook.deliveries,
    callsTo: (method) => calls.filter((c) => c.method.toLowerCase() === method.toLowerCase()),
    addChat: (chat) => store.addChat(chat),
    userSays({ chat, from, text, replyTo, entities }) {
      const user = store.user(from ?? defaultUser(chat));
      const where = store.addChat(chat ?? user.id, user);
      const repliedTo = replyTo === undefined ? undefined : store.message(where.id, replyTo);
      if (replyTo !== undefined && !repliedTo) {
        throw new Error(`fake-telegram: no message ${replyTo} in chat ${where.id} to reply to`);
      }
      const message = store.store(
        where.id,
        (id) =>
          new FakeTelegramMessage(
            where,
            id,
            user,
            false,
            { text, entities: entities ?? detectEntities(text), rawText: text },
            undefined,
            repliedTo,
          ),
      );
      return store.enqueue({ message: message.json });
    },
    press({ chat, from, messageId, data, stale }) {
      const chatId = typeof chat === 'number' ? chat : chat.id;
      const message = store.message(chatId, messageId);
      if (!message?.fromBot || message.deleted) {
        throw new Error(`fake-telegram: no bot message ${messageId} in chat ${chatId} to press a button of`);
      }
      const buttons = message.keyboard?.inline_keyboard.flat() ?? [];
      if (!stale && !buttons.some((b) => b.callback_data === data)) {
        const have = buttons.map((b) => JSON.stringify(b.callback_data ?? b.url ?? b.text)).join(', ');
        throw new Error(
          `fake-telegram: message ${messageId} has no button with callback_data "${data}" (has: ${have || 'none'})`,
        );
      }
      const id = store.nextCallbackQueryId();
      const query = {
        id,
        from: store.user(from ?? defaultUser(message.chat.type === 'private' ? chatId : chat)),
        message: message.json,
        chat_instance: String(BigInt.asIntN(64, BigInt(chatId) * 2654435761n + 7046029254386353131n)),
        data,
      };
      store.callbackQueries.set(id, { query, answered: false });
      store.enqueue({ callback_query: query });
      return id;
    },
    pushUpdate: (body) => store.enqueue(body),
    messages: (chatId, o = {}) => store.allMessages(chatId).filter((m) => o.all || (m.fromBot && !m.deleted)),
    lastMessage: (chatId) => fake.messages(chatId).at(-1),
    commands: (scope, languageCode) => store.commands.get(commandsKey(scope, languageCode)) ?? [],
    pendingUpdates: () => store.queue.length,
    rateLimit: (o) => http.rateLimit(o),
    failNext: (method, o) => http.failNext(method, o),
    setDown: (down) => http.setDown(down),
    async deliverRaw(update, o = {}) {
      const target = o.url ?? webhook.info?.url;
      if (!target) throw new Error('fake-telegram: deliverRaw needs a webhook (setWebhook) or opts.url');
      const secret = 'secret' in o ? (o.secret ?? undefined) : webhook.info?.secretToken;
      const body = typeof update === 'string' ? update : JSON.stringify(update);
      const result = await postJson(target, body, secret, webhook.timeoutMs);
      return { status: result.status, body: result.body, ...(result.error ? { error: result.error } : {}) };
    },
    async waitFor<T>(predicate: () => T, timeoutMs = 10_000): Promise<NonNullable<T>> {
      const deadline = Date.now() + timeoutMs;
      let lastError: unknown;
      for (;;) {
        try {
          const value = predicate();
          if (value) return value as NonNullable<T>;
        } catch (error) {
          lastError = error;
        }
        if (Date.now() >= deadline) {
          const why = lastError === undefined ? '' : ` (last error: ${String(lastError)})`;
          throw new Error(
            `fake-telegram: waitFor timed out after ${timeoutMs} ms${why}; recent calls:\n${recentCalls()}`,
          );
        }
        await sleep(15);
      }
    },
    waitForMessage: (chatId, predicate = () => true, timeoutMs = 10_000) =>
      fake.waitFor(() => fake.messages(chatId).findLast(predicate), timeoutMs),
    close: () => http.close(),
  };
  return fake;
}
