/** Reading Bot API requests: bodies in any of the accepted encodings, and typed parameters. */
import type { IncomingMessage } from 'node:http';
import {
  badRequest,
  TelegramApiError,
  type TgInlineKeyboardButton,
  type TgInlineKeyboardMarkup,
  type TgReplyMarkup,
} from './telegram-types.ts';

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** Fields of a `multipart/form-data` body (the fake takes no files: a file part is read as text). */
function parseMultipart(body: Buffer, boundary: string): Record<string, string> {
  const fields: Record<string, string> = {};
  const delimiter = Buffer.from(`--${boundary}`);
  let at = body.indexOf(delimiter);
  while (at !== -1) {
    const start = at + delimiter.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    const part = body.subarray(start, next);
    const headerEnd = part.indexOf('\r\n\r\n');
    if (headerEnd !== -1) {
      const headers = part.subarray(0, headerEnd).toString('utf8');
      const name = /name="([^"]*)"/i.exec(headers)?.[1];
      let value = part.subarray(headerEnd + 4);
      if (value.subarray(-2).toString() === '\r\n') value = value.subarray(0, -2);
      if (name !== undefined) fields[name] = value.toString('utf8');
    }
    at = next;
  }
  return fields;
}

/** Query-string parameters overlaid with the body's, as the Bot API merges them. */
export function parseParams(req: IncomingMessage, target: URL, body: Buffer): Record<string, unknown> {
  const params: Record<string, unknown> = Object.fromEntries(target.searchParams);
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (body.length === 0) return params;
  if (type.startsWith('application/x-www-form-urlencoded')) {
    return { ...params, ...Object.fromEntries(new URLSearchParams(body.toString('utf8'))) };
  }
  if (type.startsWith('multipart/form-data')) {
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(req.headers['content-type'] ?? '');
    if (!boundary) throw badRequest('invalid multipart/form-data: boundary not found');
    return { ...params, ...parseMultipart(body, boundary[1] ?? boundary[2] ?? '') };
  }
  if (type.startsWith('application/json') || type === '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw badRequest("can't parse JSON object");
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw badRequest('JSON object expected');
    }
    return { ...params, ...(parsed as Record<string, unknown>) };
  }
  return params;
}

/** Typed access to a method's parameters, which arrive as JSON values or (from forms) strings. */
export class Params {
  constructor(readonly raw: Record<string, unknown>) {}

  has(key: string): boolean {
    const v = this.raw[key];
    return v !== undefined && v !== null && v !== '';
  }

  str(key: string): string | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null) return undefined;
    return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
  }

  int(key: string): number | undefined {
    const v = this.raw[key];
    if (v === undefined || v === null || v === '') return undefined;
    const n = typeof v === 'number' ? v : Number(String(v).trim());
    if (!Number.isFinite(n)) throw badRequest(`invalid ${key} specified`);
    return Math.trunc(n);
  }

  bool(key: string): boolean {
    const v = this.raw[key];
    return v === true || v === 1 || v === 'true' || v === '1' || v === 'True';
  }

  /** A JSON-valued field: objects as sent in a JSON body, or a JSON string from a form. */
  json(key: string, unparsable: string): unknown {
    const v = this.raw[key];
    if (typeof v !== 'string') return v ?? undefined;
    if (v === '') return undefined;
    try {
      return JSON.parse(v);
    } catch {
      throw badRequest(unparsable);
    }
  }
}

const BUTTON_ACTIONS = [
  'url',
  'callback_data',
  'web_app',
  'login_url',
  'switch_inline_query',
  'switch_inline_query_current_chat',
  'switch_inline_query_chosen_chat',
  'copy_text',
  'callback_game',
  'pay',
];

function checkButton(button: unknown): TgInlineKeyboardButton {
  if (button === null || typeof button !== 'object' || Array.isArray(button)) {
    throw badRequest("can't parse inline keyboard button: InlineKeyboardButton must be an Object");
  }
  const b = button as Record<string, unknown>;
  if (typeof b.text !== 'string') {
    throw badRequest('can\'t parse inline keyboard button: Field "text" must be of type String');
  }
  if (!BUTTON_ACTIONS.some((action) => b[action] !== undefined)) {
    throw badRequest("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard");
  }
  if (b.callback_data !== undefined) {
    const size = typeof b.callback_data === 'string' ? Buffer.byteLength(b.callback_data) : 0;
    if (size < 1 || size > 64) throw badRequest('BUTTON_DATA_INVALID');
  }
  if (b.url !== undefined && (typeof b.url !== 'string' || b.url.trim() === '')) {
    throw badRequest('BUTTON_URL_INVALID');
  }
  return b as TgInlineKeyboardButton;
}

/**
 * A `reply_markup` parameter, checked as the server checks it. `inlineOnly` (edit methods)
 * refuses reply keyboards. Undefined when absent.
 */
export function readMarkup(p: Params, inlineOnly: boolean): TgReplyMarkup | undefined {
  const raw = p.json('reply_markup', "can't parse reply keyboard markup JSON object");
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw badRequest("can't parse reply keyboard markup JSON object");
  }
  const markup = raw as Record<string, unknown>;
  if (markup.inline_keyboard === undefined) {
    if (inlineOnly) throw badRequest('inline keyboard expected');
    return markup;
  }
  const rows = markup.inline_keyboard;
  if (!Array.isArray(rows) || !rows.every((row) => Array.isArray(row))) {
    throw badRequest('can\'t parse inline keyboard button: Field "inline_keyboard" must be of type Array');
  }
  return { inline_keyboard: rows.map((row: unknown[]) => row.map(checkButton)) } as TgInlineKeyboardMarkup;
}

export const isInlineKeyboard = (markup: TgReplyMarkup | undefined): markup is TgInlineKeyboardMarkup =>
  markup !== undefined && Array.isArray((markup as TgInlineKeyboardMarkup).inline_keyboard);

/** The JSON envelope and HTTP status for a result or an error. */
export function envelope(outcome: { result: unknown; description?: string } | TelegramApiError): {
  status: number;
  body: Record<string, unknown>;
} {
  if (outcome instanceof TelegramApiError) {
    const body: Record<string, unknown> = {
      ok: false,
      error_code: outcome.status,
      description: outcome.description,
    };
    if (outcome.parameters) body.parameters = outcome.parameters;
    return { status: outcome.status, body };
  }
  const body: Record<string, unknown> = { ok: true, result: outcome.result };
  if (outcome.description) body.description = outcome.description;
  return { status: 200, body };
}
