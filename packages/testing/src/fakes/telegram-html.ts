/** Telegram's `HTML` parse mode, modelled on tdlib's parser and its error messages. */
import type { TgMessageEntity } from './telegram-types.ts';

export interface FormattedText {
  text: string;
  entities: TgMessageEntity[];
}

/** Markup the server refuses; the Bot API prefixes the message with `can't parse entities: `. */
export class ParseError extends Error {}

export const byteOffset = (s: string, i: number) => Buffer.byteLength(s.slice(0, i));
export const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r';

const HTML_TAGS = new Set([
  'a',
  'b',
  'strong',
  'i',
  'em',
  's',
  'strike',
  'del',
  'u',
  'ins',
  'tg-spoiler',
  'tg-emoji',
  'span',
  'pre',
  'code',
  'blockquote',
]);

const SIMPLE_TAGS: Record<string, string> = {
  b: 'bold',
  strong: 'bold',
  i: 'italic',
  em: 'italic',
  s: 'strikethrough',
  strike: 'strikethrough',
  del: 'strikethrough',
  u: 'underline',
  ins: 'underline',
  'tg-spoiler': 'spoiler',
  span: 'spoiler',
};

/** `&lt;` `&gt;` `&amp;` `&quot;` and numeric references, `;` optional; null leaves the `&` literal. */
function decodeEntity(s: string, at: number): { char: string; next: number } | null {
  let end = at + 1;
  let code: number | undefined;
  if (s[end] === '#') {
    end += 1;
    const hex = s[end] === 'x' || s[end] === 'X';
    if (hex) end += 1;
    const start = end;
    while (end < s.length && (hex ? /[0-9a-fA-F]/ : /[0-9]/).test(s[end] as string)) end += 1;
    if (end === start || end - start >= 10) return null;
    code = Number.parseInt(s.slice(start, end), hex ? 16 : 10);
    if (code === 0 || code >= 0x10ffff) return null;
  } else {
    while (end < s.length && /[a-zA-Z]/.test(s[end] as string)) end += 1;
    code = { lt: 60, gt: 62, amp: 38, quot: 34 }[s.slice(at + 1, end)];
    if (code === undefined) return null;
  }
  return { char: String.fromCodePoint(code), next: s[end] === ';' ? end + 1 : end };
}

/** A link Telegram would keep; anything else drops the entity, as `get_checked_link` does. */
export function checkedLink(url: string): string | null {
  const trimmed = url.trim();
  if (!trimmed) return null;
  const withScheme = /^[a-z][a-z0-9+.-]*:/i.test(trimmed) ? trimmed : `http://${trimmed}`;
  try {
    const parsed = new URL(withScheme);
    return ['http:', 'https:', 'tg:', 'ton:'].includes(parsed.protocol) ? withScheme : null;
  } catch {
    return null;
  }
}

export function parseHtml(s: string): FormattedText {
  let out = '';
  const entities: TgMessageEntity[] = [];
  const open: Array<{ tag: string; arg: string; offset: number; expandable: boolean }> = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i] as string;
    if (c === '&') {
      const decoded = decodeEntity(s, i);
      if (decoded) {
        out += decoded.char;
        i = decoded.next;
        continue;
      }
    }
    if (c !== '<') {
      out += c;
      i += 1;
      continue;
    }
    const begin = i;
    const at = () => byteOffset(s, begin);
    i += 1;
    if (s[i] !== '/') {
      while (i < s.length && !isSpace(s[i]) && s[i] !== '>') i += 1;
      if (i >= s.length) throw new ParseError(`Unclosed start tag at byte offset ${at()}`);
      const tag = s.slice(begin + 1, i).toLowerCase();
      if (!HTML_TAGS.has(tag)) throw new ParseError(`Unsupported start tag "${tag}" at byte offset ${at()}`);
      let arg = '';
      let expandable = false;
      while (s[i] !== '>') {
        while (i < s.length && isSpace(s[i])) i += 1;
        if (s[i] === '>') break;
        const nameStart = i;
        while (i < s.length && !isSpace(s[i]) && s[i] !== '=' && s[i] !== '>') i += 1;
        const name = s.slice(nameStart, i).toLowerCase();
        if (!name) throw new ParseError(`Empty attribute name in the tag "${tag}" at byte offset ${at()}`);
        while (i < s.length && isSpace(s[i])) i += 1;
        if (i >= s.length) throw new ParseError(`Unclosed start tag "${tag}" at byte offset ${at()}`);
        if (s[i] !== '=') {
          if (tag === 'blockquote' && name === 'expandable') {
            expandable = true;
            continue;
          }
          throw new ParseError(
            `Expected equal sign in declaration of an attribute of the tag "${tag}" at byte offset ${at()}`,
          );
        }
        i += 1;
        while (i < s.length && isSpace(s[i])) i += 1;
        if (i >= s.length) throw new ParseError(`Unclosed start tag "${tag}" at byte offset ${at()}`);
        let value = '';
        const quote = s[i];
        if (quote !== '"' && quote !== "'") {
          const tokenStart = i;
          while (i < s.length && /[a-zA-Z0-9.-]/.test(s[i] as string)) i += 1;
          value = s.slice(tokenStart, i).toLowerCase();
          if (!isSpace(s[i]) && s[i] !== '>') {
            throw new ParseError(`Unexpected end of name token at byte offset ${byteOffset(s, tokenStart)}`);
          }
        } else {
          i += 1;
          while (i < s.length && s[i] !== quote) {
            const decoded = s[i] === '&' ? decodeEntity(s, i) : null;
            value += decoded ? decoded.char : s[i];
            i = decoded ? decoded.next : i + 1;
          }
          if (s[i] === quote) i += 1;
        }
        if (i >= s.length) throw new ParseError(`Unclosed start tag at byte offset ${at()}`);
        if (tag === 'a' && name === 'href') arg = value;
        else if (tag === 'code' && name === 'class' && value.startsWith('language-')) arg = value.slice(9);
        else if (tag === 'span' && name === 'class' && value.startsWith('tg-')) arg = value.slice(3);
        else if (tag === 'tg-emoji' && name === 'emoji-id') arg = value;
      }
      if (tag === 'span' && arg !== 'spoiler') {
        throw new ParseError(`Tag "span" must have class "tg-spoiler" at byte offset ${at()}`);
      }
      open.push({ tag, arg, offset: out.length, expandable });
      i += 1;
      continue;
    }
    if (open.length === 0) throw new ParseError(`Unexpected end tag at byte offset ${at()}`);
    while (i < s.length && !isSpace(s[i]) && s[i] !== '>') i += 1;
    const endTag = s.slice(begin + 2, i).toLowerCase();
    while (i < s.length && isSpace(s[i])) i += 1;
    if (s[i] !== '>') throw new ParseError(`Unclosed end tag at byte offset ${at()}`);
    i += 1;
    const top = open.pop() as { tag: string; arg: string; offset: number; expandable: boolean };
    if (endTag && endTag !== top.tag) {
      throw new ParseError(
        `Unmatched end tag at byte offset ${at()}, expected "</${top.tag}>", found "</${endTag}>"`,
      );
    }
    const length = out.length - top.offset;
    if (length > 0) htmlEntity(entities, top, length, out);
  }
  const unclosed = open.at(-1);
  if (unclosed) throw new ParseError(`Can't find end tag corresponding to start tag "${unclosed.tag}"`);
  for (const e of entities) if (e.type === 'code') delete e.language;
  return { text: out, entities };
}

function htmlEntity(
  entities: TgMessageEntity[],
  top: { tag: string; arg: string; offset: number; expandable: boolean },
  length: number,
  out: string,
) {
  const { tag, arg, offset } = top;
  const last = entities.at(-1);
  const sameSpan = last !== undefined && last.offset === offset && last.length === length;
  const simple = SIMPLE_TAGS[tag];
  if (simple) entities.push({ type: simple, offset, length });
  else if (tag === 'tg-emoji') {
    if (!/^[1-9][0-9]*$/.test(arg)) throw new ParseError('Invalid custom emoji identifier specified');
    entities.push({ type: 'custom_emoji', offset, length, custom_emoji_id: arg });
  } else if (tag === 'a') {
    const url = checkedLink(arg || out.slice(offset));
    if (url) entities.push({ type: 'text_link', offset, length, url });
  } else if (tag === 'pre') {
    if (sameSpan && last.type === 'code' && last.language) last.type = 'pre';
    else entities.push({ type: 'pre', offset, length });
  } else if (tag === 'code') {
    if (sameSpan && last.type === 'pre' && arg) last.language = arg;
    else entities.push({ type: 'code', offset, length, ...(arg ? { language: arg } : {}) });
  } else if (tag === 'blockquote') {
    entities.push({ type: top.expandable ? 'expandable_blockquote' : 'blockquote', offset, length });
  }
}
