/** The fake's state: chats, messages, the update queue, callback queries and bot commands. */
import {
  badRequest,
  DEFAULT_EXCLUDED_UPDATES,
  type FakeCallbackAnswer,
  type FakeTelegramChatInput,
  type FakeTelegramUserInput,
  nowSeconds,
  type TgBotCommand,
  type TgBotUser,
  type TgCallbackQuery,
  type TgChat,
  type TgMessage,
  type TgMessageEntity,
  type TgReplyMarkup,
  type TgUpdate,
  type TgUser,
  updateType,
} from './telegram-types.ts';
import { isInlineKeyboard, type Params } from './telegram-wire.ts';

/** A message in a chat, as the fake keeps it; `json` is the Message object the API returns now. */
export class FakeTelegramMessage {
  /** Texts set by successful `editMessageText` calls, oldest first (the sent text is `sentText`). */
  readonly edits: string[] = [];
  deleted = false;
  editDate: number | undefined;
  /** Text as Telegram shows it: `parse_mode` markup already turned into `entities`, whitespace trimmed. */
  text: string;
  entities: TgMessageEntity[];
  /** The `text` parameter exactly as last sent or edited, with its `parse_mode`. */
  rawText: string;
  parseMode: string | undefined;
  replyMarkup: TgReplyMarkup | undefined;
  readonly sentText: string;
  readonly date = nowSeconds();

  constructor(
    readonly chat: TgChat,
    readonly messageId: number,
    readonly from: TgUser,
    /** True for messages the bot sent, false for those the test helpers made users say. */
    readonly fromBot: boolean,
    content: { text: string; entities: TgMessageEntity[]; rawText: string; parseMode?: string },
    replyMarkup: TgReplyMarkup | undefined,
    readonly replyTo: FakeTelegramMessage | undefined,
    /** Every parameter of the sending call as received (link_preview_options, disable_notification, …). */
    readonly params: Record<string, unknown> = {},
  ) {
    this.text = content.text;
    this.sentText = content.text;
    this.entities = content.entities;
    this.rawText = content.rawText;
    this.parseMode = content.parseMode;
    this.replyMarkup = replyMarkup;
  }

  get chatId(): number {
    return this.chat.id;
  }

  /** The inline keyboard's rows, or none. */
  get keyboard(): TgMessage['reply_markup'] {
    return isInlineKeyboard(this.replyMarkup) && this.replyMarkup.inline_keyboard.length > 0
      ? this.replyMarkup
      : undefined;
  }

  get json(): TgMessage {
    return this.toJson(true);
  }

  toJson(withReply: boolean): TgMessage {
    const message: TgMessage = {
      message_id: this.messageId,
      from: this.from,
      chat: this.chat,
      date: this.date,
    };
    if (this.editDate !== undefined) message.edit_date = this.editDate;
    if (withReply && this.replyTo) message.reply_to_message = this.replyTo.toJson(false);
    message.text = this.text;
    if (this.entities.length > 0) message.entities = this.entities;
    const preview = this.params.link_preview_options;
    if (preview && typeof preview === 'object')
      message.link_preview_options = preview as Record<string, unknown>;
    if (this.keyboard) message.reply_markup = this.keyboard;
    return message;
  }
}

export const commandsKey = (scope: unknown, languageCode: string | undefined) => {
  const s = (scope && typeof scope === 'object' ? scope : {}) as Record<string, unknown>;
  return `${String(s.type ?? 'default')}:${String(s.chat_id ?? '')}:${String(s.user_id ?? '')}|${languageCode ?? ''}`;
};

export class TelegramStore {
  readonly chats = new Map<number, TgChat>();
  private readonly byChat = new Map<number, FakeTelegramMessage[]>();
  private lastUpdateId = 100_000;
  private lastQueryId = 0;
  /** Updates not yet confirmed by getUpdates nor delivered to the webhook, oldest first. */
  readonly queue: TgUpdate[] = [];
  /** Every update created, including those `allowed_updates` filtered out. */
  readonly updates: TgUpdate[] = [];
  /** As last set by getUpdates or setWebhook; empty means the default set. */
  allowedUpdates: string[] = [];
  readonly callbackQueries = new Map<string, { query: TgCallbackQuery; answered: boolean }>();
  readonly callbackAnswers = new Map<string, FakeCallbackAnswer>();
  readonly commands = new Map<string, TgBotCommand[]>();
  /** Called after an update joins the queue. */
  onQueued: () => void = () => {};

  constructor(readonly bot: TgBotUser) {}

  user(input: FakeTelegramUserInput): TgUser {
    const user: TgUser = {
      id: input.id,
      is_bot: false,
      first_name: input.first_name ?? input.username ?? `User ${input.id}`,
    };
    if (input.last_name) user.last_name = input.last_name;
    if (input.username) user.username = input.username;
    user.language_code = input.language_code ?? 'en';
    return user;
  }

  /** Registers (or refreshes) a chat; a number is the private chat of `from`. */
  addChat(input: FakeTelegramChatInput, from?: TgUser): TgChat {
    let chat: TgChat;
    if (typeof input === 'number') {
      chat = { id: input, type: 'private', first_name: from?.first_name ?? `User ${input}` };
      if (from?.last_name) chat.last_name = from.last_name;
      if (from?.username) chat.username = from.username;
    } else {
      chat = { id: input.id, type: input.type };
      if (input.type === 'private')
        chat.first_name = input.first_name ?? from?.first_name ?? `User ${input.id}`;
      else chat.title = input.title ?? `Chat ${input.id}`;
      const username = input.username ?? (input.type === 'private' ? from?.username : undefined);
      if (username) chat.username = username;
    }
    this.chats.set(chat.id, chat);
    return chat;
  }

  /** The chat a `chat_id` parameter names (an id or `@username`); 400 as Telegram words it. */
  resolveChat(p: Params): TgChat {
    const raw = p.str('chat_id')?.trim();
    if (!raw) throw badRequest('chat_id is empty');
    const chat = raw.startsWith('@')
      ? [...this.chats.values()].find((c) => c.username?.toLowerCase() === raw.slice(1).toLowerCase())
      : /^-?\d+$/.test(raw)
        ? this.chats.get(Number(raw))
        : undefined;
    if (!chat) throw badRequest('chat not found');
    return chat;
  }

  message(chatId: number, messageId: number | undefined): FakeTelegramMessage | undefined {
    return this.byChat.get(chatId)?.find((m) => m.messageId === messageId);
  }

  /** Every message of the chat, the users' and deleted ones included, oldest first. */
  allMessages(chatId: number): FakeTelegramMessage[] {
    return this.byChat.get(chatId) ?? [];
  }

  /** Numbers and stores a message in `chat` (ids run per chat, shared by users and the bot). */
  store(chatId: number, build: (messageId: number) => FakeTelegramMessage): FakeTelegramMessage {
    const list = this.byChat.get(chatId) ?? [];
    const message = build((list.at(-1)?.messageId ?? 0) + 1);
    list.push(message);
    this.byChat.set(chatId, list);
    return message;
  }

  nextCallbackQueryId(): string {
    this.lastQueryId += 1;
    return `${4_000_000_000_000_000_000n + BigInt(this.lastQueryId)}`;
  }

  isAllowed(type: string): boolean {
    return this.allowedUpdates.length === 0
      ? !DEFAULT_EXCLUDED_UPDATES.includes(type)
      : this.allowedUpdates.includes(type);
  }

  /** Numbers an update and queues it unless `allowed_updates` excludes its type. */
  enqueue(body: Record<string, unknown>): TgUpdate {
    this.lastUpdateId += 1;
    const update = { update_id: this.lastUpdateId, ...body } as TgUpdate;
    this.updates.push(update);
    if (this.isAllowed(updateType(update))) {
      this.queue.push(update);
      this.onQueued();
    }
    return update;
  }

  /** getUpdates' `offset`: forgets updates below it; a negative one keeps only the last `-offset`. */
  confirm(offset: number): void {
    if (offset < 0) this.queue.splice(0, Math.max(0, this.queue.length + offset));
    else while ((this.queue[0]?.update_id ?? Number.POSITIVE_INFINITY) < offset) this.queue.shift();
  }

  dropPending(): void {
    this.queue.length = 0;
  }
}
