/** The Bot API methods the fake serves (all but getUpdates, which needs the HTTP response). */
import { formatText } from './telegram-format.ts';
import { commandsKey, FakeTelegramMessage, type TelegramStore } from './telegram-store.ts';
import {
  badRequest,
  nowSeconds,
  TelegramApiError,
  type TgBotCommand,
  type TgReplyMarkup,
} from './telegram-types.ts';
import type { WebhookPump } from './telegram-webhook.ts';
import { isInlineKeyboard, type Params, readMarkup } from './telegram-wire.ts';

export interface MethodContext {
  store: TelegramStore;
  webhook: WebhookPump;
  /** Ends a held getUpdates because a webhook was set. */
  endPolling(reason: TelegramApiError): void;
}

export type Outcome = { result: unknown; description?: string };
type Handler = (p: Params, ctx: MethodContext) => Outcome;

const MAX_TEXT = 4096;
const NOT_MODIFIED =
  'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';
const CHAT_ACTIONS = [
  'typing',
  'upload_photo',
  'record_video',
  'upload_video',
  'record_voice',
  'upload_voice',
  'upload_document',
  'choose_sticker',
  'find_location',
  'record_video_note',
  'upload_video_note',
];

const codePoints = (s: string) => [...s].length;
const ok = (result: unknown, description?: string): Outcome =>
  description ? { result, description } : { result };
const sameKeyboard = (a: TgReplyMarkup | undefined, b: TgReplyMarkup | undefined) => {
  const rows = (m: TgReplyMarkup | undefined) =>
    isInlineKeyboard(m) && m.inline_keyboard.length > 0 ? JSON.stringify(m.inline_keyboard) : '';
  return rows(a) === rows(b);
};

/** The bot message `chat_id` + `message_id` name, for the edit methods. */
function editable(p: Params, ctx: MethodContext): FakeTelegramMessage {
  if (p.has('inline_message_id')) throw badRequest('MESSAGE_ID_INVALID');
  const chat = ctx.store.resolveChat(p);
  const messageId = p.int('message_id');
  if (messageId === undefined) throw badRequest('message identifier is not specified');
  const message = ctx.store.message(chat.id, messageId);
  if (!message || message.deleted) throw badRequest('message to edit not found');
  if (!message.fromBot) throw badRequest("message can't be edited");
  return message;
}

function replyTarget(p: Params, ctx: MethodContext, chatId: number): FakeTelegramMessage | undefined {
  const params = p.json('reply_parameters', "can't parse reply parameters JSON object") as
    | { message_id?: number; chat_id?: number | string; allow_sending_without_reply?: boolean }
    | undefined;
  const messageId = params?.message_id ?? p.int('reply_to_message_id');
  if (messageId === undefined) return undefined;
  const target = ctx.store.message(
    params?.chat_id === undefined ? chatId : Number(params.chat_id),
    messageId,
  );
  if (target && !target.deleted) return target;
  if (params?.allow_sending_without_reply || p.bool('allow_sending_without_reply')) return undefined;
  throw badRequest('message to be replied not found');
}

// Like the Bot API server, parameters are checked before the chat is looked up.
const sendMessage: Handler = (p, ctx) => {
  const raw = p.str('text') ?? '';
  const parseMode = p.str('parse_mode') || undefined;
  const content = formatText(raw, parseMode, 'message text is empty');
  if (codePoints(content.text) > MAX_TEXT) throw badRequest('message is too long');
  const markup = readMarkup(p, false);
  const chat = ctx.store.resolveChat(p);
  const replyTo = replyTarget(p, ctx, chat.id);
  const message = ctx.store.store(
    chat.id,
    (id) =>
      new FakeTelegramMessage(
        chat,
        id,
        ctx.store.bot,
        true,
        { ...content, rawText: raw, parseMode },
        markup,
        replyTo,
        p.raw,
      ),
  );
  return ok(message.json);
};

const editMessageText: Handler = (p, ctx) => {
  const raw = p.str('text') ?? '';
  const parseMode = p.str('parse_mode') || undefined;
  const content = formatText(raw, parseMode, 'message text is empty');
  if (codePoints(content.text) > MAX_TEXT) throw badRequest('MESSAGE_TOO_LONG');
  // Omitting reply_markup removes the inline keyboard.
  const markup = readMarkup(p, true);
  const message = editable(p, ctx);
  const unchanged =
    content.text === message.text &&
    JSON.stringify(content.entities) === JSON.stringify(message.entities) &&
    sameKeyboard(markup, message.replyMarkup);
  if (unchanged) throw badRequest(NOT_MODIFIED);
  message.text = content.text;
  message.entities = content.entities;
  message.rawText = raw;
  message.parseMode = parseMode;
  message.replyMarkup = markup;
  message.editDate = nowSeconds();
  message.edits.push(content.text);
  return ok(message.json);
};

const editMessageReplyMarkup: Handler = (p, ctx) => {
  const message = editable(p, ctx);
  const markup = readMarkup(p, true);
  if (sameKeyboard(markup, message.replyMarkup)) throw badRequest(NOT_MODIFIED);
  message.replyMarkup = markup;
  message.editDate = nowSeconds();
  return ok(message.json);
};

const deleteMessage: Handler = (p, ctx) => {
  const chat = ctx.store.resolveChat(p);
  const message = ctx.store.message(chat.id, p.int('message_id'));
  if (!message || message.deleted) throw badRequest('message to delete not found');
  message.deleted = true;
  return ok(true);
};

const sendChatAction: Handler = (p, ctx) => {
  ctx.store.resolveChat(p);
  if (!CHAT_ACTIONS.includes(p.str('action') ?? '')) throw badRequest('wrong parameter action in request');
  return ok(true);
};

const answerCallbackQuery: Handler = (p, ctx) => {
  const id = p.str('callback_query_id') ?? '';
  const query = ctx.store.callbackQueries.get(id);
  if (!query || query.answered) {
    throw badRequest('query is too old and response timeout expired or query ID is invalid');
  }
  const text = p.str('text');
  if (text !== undefined && codePoints(text) > 200) throw badRequest('MESSAGE_TOO_LONG');
  query.answered = true;
  const url = p.str('url');
  const cacheTime = p.int('cache_time');
  ctx.store.callbackAnswers.set(id, {
    callbackQueryId: id,
    ...(text !== undefined ? { text } : {}),
    showAlert: p.bool('show_alert'),
    ...(url !== undefined ? { url } : {}),
    ...(cacheTime !== undefined ? { cacheTime } : {}),
    at: Date.now(),
  });
  return ok(true);
};

function readCommands(p: Params): TgBotCommand[] {
  const commands = p.json('commands', "can't parse commands JSON object");
  if (!Array.isArray(commands)) throw badRequest("can't parse commands JSON object");
  if (commands.length > 100) throw badRequest('too many commands specified');
  return commands.map((c: unknown) => {
    const { command, description } = (c ?? {}) as Record<string, unknown>;
    if (typeof command !== 'string' || !/^[a-z0-9_]{1,32}$/.test(command)) {
      throw badRequest('BOT_COMMAND_INVALID');
    }
    if (typeof description !== 'string' || description.length < 1 || description.length > 256) {
      throw badRequest('command description is empty');
    }
    return { command, description };
  });
}

const scopeKey = (p: Params) =>
  commandsKey(
    p.json('scope', "can't parse BotCommandScope JSON object"),
    p.str('language_code') || undefined,
  );

const setMyCommands: Handler = (p, ctx) => {
  ctx.store.commands.set(scopeKey(p), readCommands(p));
  return ok(true);
};

const getMyCommands: Handler = (p, ctx) => ok(ctx.store.commands.get(scopeKey(p)) ?? []);

const deleteMyCommands: Handler = (p, ctx) => {
  ctx.store.commands.delete(scopeKey(p));
  return ok(true);
};

const setWebhook: Handler = (p, ctx) => {
  const url = p.str('url') ?? '';
  if (p.bool('drop_pending_updates')) ctx.store.dropPending();
  const allowed = p.json('allowed_updates', "can't parse allowed updates JSON object");
  if (Array.isArray(allowed)) ctx.store.allowedUpdates = allowed.map(String);
  if (url === '') return deleteWebhook(p, ctx);
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw badRequest('bad webhook: Failed to resolve host: Name or service not known');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw badRequest('bad webhook: An HTTPS URL must be provided for webhook');
  }
  const secret = p.str('secret_token') || undefined;
  if (secret !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secret)) {
    throw badRequest('bad webhook: secret token contains unallowed characters');
  }
  const maxConnections = p.int('max_connections') ?? 40;
  const previous = ctx.webhook.info;
  const same = previous?.url === url && previous.secretToken === secret;
  ctx.webhook.info = {
    url,
    ...(secret !== undefined ? { secretToken: secret } : {}),
    ...(ctx.store.allowedUpdates.length > 0 ? { allowedUpdates: [...ctx.store.allowedUpdates] } : {}),
    maxConnections,
  };
  ctx.endPolling(new TelegramApiError(409, 'Conflict: terminated by setWebhook request'));
  ctx.webhook.resetBackoff();
  ctx.webhook.kick();
  return ok(true, same ? 'Webhook is already set' : 'Webhook was set');
};

const deleteWebhook: Handler = (p, ctx) => {
  if (p.bool('drop_pending_updates')) ctx.store.dropPending();
  const had = ctx.webhook.info !== null;
  ctx.webhook.info = null;
  return ok(true, had ? 'Webhook was deleted' : 'Webhook is already deleted');
};

const getWebhookInfo: Handler = (_p, ctx) => {
  const info = ctx.webhook.info;
  const result: Record<string, unknown> = {
    url: info?.url ?? '',
    has_custom_certificate: false,
    pending_update_count: ctx.store.queue.length,
  };
  if (info) {
    if (info.lastErrorDate !== undefined) result.last_error_date = info.lastErrorDate;
    if (info.lastErrorMessage !== undefined) result.last_error_message = info.lastErrorMessage;
    result.max_connections = info.maxConnections;
    result.ip_address = '127.0.0.1';
    if (info.allowedUpdates) result.allowed_updates = info.allowedUpdates;
  }
  return ok(result);
};

/** Handlers by lower-cased method name (Bot API method names are case-insensitive). */
export const METHODS: Record<string, { name: string; handle: Handler }> = Object.fromEntries(
  Object.entries({
    getMe: ((_p, ctx) => ok(ctx.store.bot)) as Handler,
    sendMessage,
    editMessageText,
    editMessageReplyMarkup,
    deleteMessage,
    sendChatAction,
    answerCallbackQuery,
    setMyCommands,
    getMyCommands,
    deleteMyCommands,
    setWebhook,
    deleteWebhook,
    getWebhookInfo,
  }).map(([name, handle]) => [name.toLowerCase(), { name, handle }]),
);
