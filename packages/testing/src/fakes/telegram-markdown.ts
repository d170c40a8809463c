/** Telegram's `MarkdownV2` and legacy `Markdown` parse modes, modelled on tdlib's parsers. */

import { byteOffset, checkedLink, type FormattedText, isSpace, ParseError } from './telegram-html.ts';
import type { TgMessageEntity } from './telegram-types.ts';

const V2_NAMES: Record<string, string> = {
  bold: 'Bold',
  italic: 'Italic',
  underline: 'Underline',
  strikethrough: 'Strikethrough',
  spoiler: 'Spoiler',
  code: 'Code',
  pre: 'Pre',
  text_link: 'TextUrl',
  custom_emoji: 'CustomEmoji',
  blockquote: 'BlockQuote',
};

export function parseMarkdownV2(s: string): FormattedText {
  let out = '';
  const entities: TgMessageEntity[] = [];
  const open: Array<{ type: string; language: string; offset: number; at: number }> = [];
  let inQuote = false;
  const reserved = (c: string) =>
    new ParseError(`Character '${c}' is reserved and must be escaped with the preceding '\\'`);
  const unclosed = (e: { type: string; at: number; language: string }) =>
    new ParseError(
      `Can't find end of ${e.type === 'pre' && e.language ? 'PreCode' : V2_NAMES[e.type]} entity at byte offset ${byteOffset(s, e.at)}`,
    );
  /** Reads `(url)` starting at the `(`; returns the url and the index of the `)`. */
  const readUrl = (from: number, what: string) => {
    let url = '';
    let i = from;
    while (i < s.length && s[i] !== ')') {
      if (s[i] === '\\' && i + 1 < s.length && s.charCodeAt(i + 1) <= 126) {
        url += s[i + 1];
        i += 2;
      } else url += s[i++];
    }
    if (s[i] !== ')') throw new ParseError(`Can't find end of ${what} at byte offset ${byteOffset(s, from)}`);
    return { url, end: i };
  };
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && i + 1 < s.length && s.charCodeAt(i + 1) > 0 && s.charCodeAt(i + 1) <= 126) {
      i += 1;
      out += s[i];
      continue;
    }
    const top = open.at(-1);
    const inCode = top?.type === 'code' || top?.type === 'pre';
    if (!(inCode ? '`' : '_*[]()~`>#+-=|{}.!\n').includes(c)) {
      out += c;
      continue;
    }
    let closes = false;
    if (top) {
      if (inQuote && c === '\n' && s[i + 1] !== '>') closes = true;
      else {
        closes = {
          bold: c === '*',
          italic: c === '_' && s[i + 1] !== '_',
          code: c === '`',
          pre: c === '`' && s[i + 1] === '`' && s[i + 2] === '`',
          text_link: c === ']',
          underline: c === '_' && s[i + 1] === '_',
          strikethrough: c === '~',
          spoiler: c === '|' && s[i + 1] === '|',
          custom_emoji: c === ']',
          blockquote: false,
        }[top.type] as boolean;
      }
    }
    if (!closes || !top) {
      const at = i;
      let type: string;
      let language = '';
      if (c === '_') {
        type = s[i + 1] === '_' ? 'underline' : 'italic';
        if (type === 'underline') i += 1;
      } else if (c === '*') type = 'bold';
      else if (c === '~') type = 'strikethrough';
      else if (c === '|') {
        if (s[i + 1] !== '|') throw reserved(c);
        i += 1;
        type = 'spoiler';
      } else if (c === '[') type = 'text_link';
      else if (c === '`') {
        type = 'code';
        if (s[i + 1] === '`' && s[i + 2] === '`') {
          type = 'pre';
          i += 3;
          let end = i;
          while (end < s.length && !isSpace(s[end]) && s[end] !== '`') end += 1;
          if (end !== i && end < s.length && s[end] !== '`') {
            language = s.slice(i, end);
            i = end;
          }
          if (s[i] === '\n' || s[i] === '\r') {
            i += (s[i + 1] === '\n' || s[i + 1] === '\r') && s[i] !== s[i + 1] ? 2 : 1;
          }
          i -= 1;
        }
      } else if (c === '!') {
        if (s[i + 1] !== '[') throw reserved(c);
        i += 1;
        type = 'custom_emoji';
      } else if (c === '\n') {
        out += '\n';
        if (s[i + 1] !== '>') continue;
        i += 1;
        if (inQuote) continue;
        type = 'blockquote';
        inQuote = true;
      } else if (c === '>' && i === 0) {
        type = 'blockquote';
        inQuote = true;
      } else throw reserved(c);
      open.push({ type, language, offset: out.length, at });
      continue;
    }
    if (c === '\n' && top.type !== 'blockquote') throw unclosed(top);
    let skip = out.length === top.offset;
    const entity: TgMessageEntity = { type: top.type, offset: top.offset, length: 0 };
    if (top.type === 'underline' || top.type === 'spoiler') i += 1;
    else if (top.type === 'pre') {
      i += 2;
      if (top.language) entity.language = top.language;
    } else if (top.type === 'text_link') {
      let url = out.slice(top.offset);
      if (s[i + 1] === '(') {
        const read = readUrl(i + 2, 'a URL');
        url = read.url;
        i = read.end;
      }
      const checked = checkedLink(url);
      if (checked) entity.url = checked;
      else skip = true;
    } else if (top.type === 'custom_emoji') {
      if (s[i + 1] !== '(') throw new ParseError('Custom emoji entity must contain a tg://emoji URL');
      const read = readUrl(i + 2, 'a custom emoji URL');
      const id = /^tg:\/\/emoji\?id=([1-9][0-9]*)$/.exec(read.url)?.[1];
      if (!id) throw new ParseError('Invalid custom emoji URL specified');
      entity.custom_emoji_id = id;
      i = read.end;
    } else if (top.type === 'blockquote') {
      inQuote = false;
      out += c;
    }
    entity.length = out.length - top.offset;
    if (!skip) entities.push(entity);
    open.pop();
  }
  const last = open.at(-1);
  if (inQuote && last?.type === 'blockquote') {
    open.pop();
    if (out.length > last.offset)
      entities.push({ type: 'blockquote', offset: last.offset, length: out.length - last.offset });
  }
  const left = open.at(-1);
  if (left) throw unclosed(left);
  return { text: out, entities };
}

/** The legacy `Markdown` mode: `*bold*`, `_italic_`, `` `code` ``, ```` ```pre``` ````, `[text](url)`. */
export function parseMarkdown(s: string): FormattedText {
  let out = '';
  const entities: TgMessageEntity[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c === '\\' && '_*`['.includes(s[i + 1] ?? 'x')) {
      i += 1;
      out += s[i];
      continue;
    }
    if (!'_*`['.includes(c)) {
      out += c;
      continue;
    }
    const begin = i;
    const endChar = c === '[' ? ']' : c;
    let pre = false;
    let language = '';
    i += 1;
    if (c === '`' && s[i] === '`' && s[i + 1] === '`') {
      i += 2;
      pre = true;
      let end = i;
      while (end < s.length && !isSpace(s[end]) && s[end] !== '`') end += 1;
      if (end !== i && end < s.length && s[end] !== '`') {
        language = s.slice(i, end);
        i = end;
      }
      if (s[i] === '\n' || s[i] === '\r') {
        i += (s[i + 1] === '\n' || s[i + 1] === '\r') && s[i] !== s[i + 1] ? 2 : 1;
      }
    }
    const offset = out.length;
    while (i < s.length && (s[i] !== endChar || (pre && !(s[i + 1] === '`' && s[i + 2] === '`'))))
      out += s[i++];
    if (i >= s.length) {
      throw new ParseError(`Can't find end of the entity starting at byte offset ${byteOffset(s, begin)}`);
    }
    const length = out.length - offset;
    let url: string | null = null;
    if (c === '[') {
      let raw = s.slice(begin + 1, i);
      if (s[i + 1] === '(') {
        i += 2;
        raw = '';
        while (i < s.length && s[i] !== ')') raw += s[i++];
      }
      url = checkedLink(raw);
    }
    if (length > 0) {
      if (c === '_') entities.push({ type: 'italic', offset, length });
      else if (c === '*') entities.push({ type: 'bold', offset, length });
      else if (c === '[' && url) entities.push({ type: 'text_link', offset, length, url });
      else if (c === '`') {
        entities.push({ type: pre ? 'pre' : 'code', offset, length, ...(language ? { language } : {}) });
      }
    }
    if (pre) i += 2;
  }
  return { text: out, entities };
}
