/** Bot API wire objects (the subset the fake produces), named as the Bot API names them. */

export interface TgUser {
  id: number;
  is_bot: boolean;
  first_name: string;
  last_name?: string;
  username?: string;
  language_code?: string;
}

/** `getMe` answers this: a User with the bot-only capability flags. */
export interface TgBotUser extends TgUser {
  can_join_groups: boolean;
  can_read_all_group_messages: boolean;
  supports_inline_queries: boolean;
}

export type TgChatType = 'private' | 'group' | 'supergroup' | 'channel';

export interface TgChat {
  id: number;
  type: TgChatType;
  title?: string;
  username?: string;
  first_name?: string;
  last_name?: string;
}

export interface TgMessageEntity {
  type: string;
  offset: number;
  length: number;
  url?: string;
  language?: string;
  custom_emoji_id?: string;
}

export interface TgInlineKeyboardButton {
  text: string;
  callback_data?: string;
  url?: string;
  [key: string]: unknown;
}

export interface TgInlineKeyboardMarkup {
  inline_keyboard: TgInlineKeyboardButton[][];
}

/** Any `reply_markup`: inline keyboards, or reply keyboards / removal / force-reply kept as sent. */
export type TgReplyMarkup = TgInlineKeyboardMarkup | Record<string, unknown>;

export interface TgMessage {
  message_id: number;
  from?: TgUser;
  chat: TgChat;
  date: number;
  edit_date?: number;
  text?: string;
  entities?: TgMessageEntity[];
  reply_markup?: TgInlineKeyboardMarkup;
  reply_to_message?: TgMessage;
  link_preview_options?: Record<string, unknown>;
}

export interface TgCallbackQuery {
  id: string;
  from: TgUser;
  message?: TgMessage;
  chat_instance: string;
  data?: string;
}

export interface TgUpdate {
  update_id: number;
  message?: TgMessage;
  edited_message?: TgMessage;
  callback_query?: TgCallbackQuery;
  [type: string]: unknown;
}

export interface TgBotCommand {
  command: string;
  description: string;
}

/** A user as the test helpers take it; `first_name` defaults to the username or `User <id>`. */
export interface FakeTelegramUserInput {
  id: number;
  username?: string;
  first_name?: string;
  last_name?: string;
  language_code?: string;
}

/** A chat as the test helpers take it: a number is the private chat with that user id. */
export type FakeTelegramChatInput =
  | number
  | { id: number; type: TgChatType; title?: string; username?: string; first_name?: string };

/** One `answerCallbackQuery` the bot made. */
export interface FakeCallbackAnswer {
  callbackQueryId: string;
  text?: string;
  showAlert: boolean;
  url?: string;
  cacheTime?: number;
  at: number;
}

/** One logged API call. `status` is 0 while a getUpdates is still held, or when the socket was cut. */
export interface FakeTelegramCall {
  method: string;
  params: Record<string, unknown>;
  status: number;
  /** `description` of an error answer. */
  error?: string;
  at: number;
  /** True for a method the bot returned in its answer to a webhook delivery. */
  viaWebhookReply?: boolean;
}

/** One attempt to POST an update to the webhook; `status` 0 means no HTTP answer. */
export interface FakeWebhookDelivery {
  updateId: number;
  url: string;
  status: number;
  /** Why the attempt failed, worded as `getWebhookInfo.last_error_message` words it. */
  error?: string;
  secretSent?: string;
  at: number;
}

export interface FakeWebhookInfo {
  url: string;
  secretToken?: string;
  allowedUpdates?: string[];
  maxConnections: number;
  lastErrorDate?: number;
  lastErrorMessage?: string;
}

/** An error answer: `{ ok: false, error_code, description, parameters? }` with `status` as HTTP status. */
export class TelegramApiError extends Error {
  constructor(
    readonly status: number,
    readonly description: string,
    readonly parameters?: { retry_after?: number; migrate_to_chat_id?: number },
  ) {
    super(description);
  }
}

export const badRequest = (what: string) => new TelegramApiError(400, `Bad Request: ${what}`);

/** Update types delivered when `allowed_updates` is empty or was never given. */
export const DEFAULT_EXCLUDED_UPDATES = ['chat_member', 'message_reaction', 'message_reaction_count'];

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The update's type: its one field besides `update_id`. */
export const updateType = (update: TgUpdate) => Object.keys(update).find((k) => k !== 'update_id') ?? '';
