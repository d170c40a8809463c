/**
 * Turns a `text` + `parse_mode` into what Telegram stores: plain text and entities, with the
 * server's `can't parse entities` errors (modelled on tdlib's parsers), surrounding whitespace
 * trimmed, and mentions / bot commands / hashtags / URLs detected as the server detects them.
 * Offsets are UTF-16 code units, as in the Bot API.
 */
import { type FormattedText, ParseError, parseHtml } from './telegram-html.ts';
import { parseMarkdown, parseMarkdownV2 } from './telegram-markdown.ts';
import { badRequest, type TgMessageEntity } from './telegram-types.ts';

export type { FormattedText } from './telegram-html.ts';

const WORD = /[\p{L}\p{N}_]/u;

/** Mentions, bot commands, hashtags and http(s) URLs, found the way the server finds them. */
export function detectEntities(text: string): TgMessageEntity[] {
  const found: TgMessageEntity[] = [];
  const before = (i: number) => (i > 0 ? (text[i - 1] as string) : '');
  const scan = (re: RegExp, type: string, ok: (i: number, m: RegExpExecArray) => boolean) => {
    for (const m of text.matchAll(re)) {
      if (ok(m.index, m)) found.push({ type, offset: m.index, length: m[0].length });
    }
  };
  const after = (m: RegExpExecArray) => text[m.index + m[0].length] ?? '';
  scan(/\/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?/g, 'bot_command', (i, m) => {
    const prev = before(i);
    const next = after(m);
    return (
      !WORD.test(prev) && !'/<>'.includes(prev || 'x') && !WORD.test(next) && !'/<>@'.includes(next || 'x')
    );
  });
  scan(/@[A-Za-z0-9_]{2,32}/g, 'mention', (i, m) => !WORD.test(before(i)) && !WORD.test(after(m)));
  scan(/#[\p{L}\p{N}_]{1,256}/gu, 'hashtag', (i, m) => !WORD.test(before(i)) && /\p{L}/u.test(m[0]));
  scan(/\bhttps?:\/\/[^\s<>"]+/g, 'url', () => true);
  for (const e of found) {
    if (e.type !== 'url') continue;
    // Trailing punctuation is not part of a link.
    while (e.length > 0 && /[.,;:!?)'\]]/.test(text[e.offset + e.length - 1] as string)) e.length -= 1;
  }
  return found;
}

const sortEntities = (entities: TgMessageEntity[]) =>
  entities.sort((a, b) => a.offset - b.offset || b.length - a.length);

/** Strips surrounding whitespace, clipping entities to what is left. */
function trim(formatted: FormattedText): FormattedText {
  const start = formatted.text.length - formatted.text.trimStart().length;
  const text = formatted.text.trim();
  const entities: TgMessageEntity[] = [];
  for (const e of formatted.entities) {
    const from = Math.max(e.offset - start, 0);
    const to = Math.min(e.offset + e.length - start, text.length);
    if (to > from) entities.push({ ...e, offset: from, length: to - from });
  }
  return { text, entities };
}

const OPAQUE = new Set(['code', 'pre', 'text_link', 'custom_emoji']);

/**
 * `text` as Telegram stores it for `parse_mode` (HTML, MarkdownV2, Markdown or none). Throws a
 * Bot API 400 for markup the server would refuse; `empty` is the description for blank text.
 */
export function formatText(raw: string, parseMode: string | undefined, empty: string): FormattedText {
  let parsed: FormattedText;
  try {
    const mode = (parseMode ?? '').toLowerCase();
    if (mode === 'html') parsed = parseHtml(raw);
    else if (mode === 'markdownv2') parsed = parseMarkdownV2(raw);
    else if (mode === 'markdown') parsed = parseMarkdown(raw);
    else if (mode === '') parsed = { text: raw, entities: [] };
    else throw badRequest(`unsupported parse_mode`);
  } catch (error) {
    if (error instanceof ParseError) throw badRequest(`can't parse entities: ${error.message}`);
    throw error;
  }
  const trimmed = trim(parsed);
  if (!trimmed.text) throw badRequest(empty);
  const taken = trimmed.entities.filter((e) => OPAQUE.has(e.type));
  const found = detectEntities(trimmed.text).filter(
    (f) => !taken.some((e) => f.offset < e.offset + e.length && e.offset < f.offset + f.length),
  );
  return { text: trimmed.text, entities: sortEntities([...trimmed.entities, ...found]) };
}
