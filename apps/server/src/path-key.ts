import type { IncomingMessage } from 'node:http';

/** Keys taken from `/k/<key>/…` base URLs, by raw request; nothing else keeps them. */
const keys = new WeakMap<IncomingMessage, string>();

/** Separators inside a decoded segment: an encoded `/` (or `\`) must not hide the `k` segment. */
const INNER_SEPARATOR = /[/\\]/;

/** A path whose segments need normalising: an empty segment (`//`, a trailing `/`), a `.` or `..` one. */
const UNCANONICAL = /\/\/|\/\.\.?(?:\/|$)|.\/$/;

function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * The path's segments as a server that normalises URLs would see them: empty ones (`//`) and `.`
 * dropped, `..` applied, each with its raw and its decoded spelling.
 */
function canonicalSegments(path: string): Array<{ raw: string; text: string }> {
  const out: Array<{ raw: string; text: string }> = [];
  for (const raw of path.split('/')) {
    const text = decode(raw);
    if (text === '' || text === '.') continue;
    if (text === '..') out.pop();
    else out.push({ raw, text });
  }
  return out;
}

/**
 * The key and the rest of the path when `path` is a `/k/<key>/…` base URL however it is spelled
 * (`//k/`, `/K/`, `/%6B/`, `/./k/`, `/k%2F<key>`…); null when it is not one.
 */
export function splitKeyPath(path: string): { key: string; rest: string } | null {
  // A path with a leading `/` and without an escape, a backslash, an empty, `.` or `..` segment or a
  // trailing `/` is already canonical: it is a key path only if it starts `/k/` (or `/K/`), and then
  // its next segment is the key. Most requests are spelled so, and this spares decoding each segment.
  if (path[0] === '/' && !path.includes('%') && !path.includes('\\') && !UNCANONICAL.test(path)) {
    if ((path[1] !== 'k' && path[1] !== 'K') || (path.length > 2 && path[2] !== '/')) return null;
    const end = path.indexOf('/', 3);
    return end < 0
      ? { key: path.slice(3), rest: '' }
      : { key: path.slice(3, end), rest: path.slice(end + 1) };
  }
  return canonicalSplit(path);
}

/** splitKeyPath on the canonical segments, whatever the spelling (exported for its test). */
export function canonicalSplit(path: string): { key: string; rest: string } | null {
  const segments = canonicalSegments(path);
  const [first, ...after] = segments;
  if (!first) return null;
  const parts = first.text.split(INNER_SEPARATOR).filter((p) => p !== '' && p !== '.');
  if (parts[0]?.toLowerCase() !== 'k') return null;
  if (parts.length > 1) {
    // The key sat behind an encoded separator in the first segment: the remaining parts follow it.
    const [, key = '', ...inner] = parts;
    return { key, rest: [...inner.map(encodeURIComponent), ...after.map((s) => s.raw)].join('/') };
  }
  const [keySegment, ...rest] = after;
  return { key: keySegment?.text ?? '', rest: rest.map((s) => s.raw).join('/') };
}

/**
 * Fastify's rewriteUrl, run before routing: `/k/<key>/api/…` is served as `/api/…` with
 * `<key>` as its bearer credential, for clients that can set a base URL but no header
 * (CoderClaw's adapter). The key leaves the URL here, so request.url, the request log lines
 * and "no route" answers never hold it, however the path spells `/k/`; originalUrl keeps the
 * path with the key masked.
 */
export function stripPathKey(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const cut = url.search(/[?#]/);
  const path = cut < 0 ? url : url.slice(0, cut);
  const query = cut < 0 ? '' : url.slice(cut);
  const found = splitKeyPath(path);
  if (!found) return url;
  keys.set(req, found.key);
  const rest = `/${found.rest}${query}`;
  (req as IncomingMessage & { originalUrl?: string }).originalUrl = `/k/[redacted]${rest}`;
  return rest;
}

/** The key this request carried in its path, if any (an empty key counts as none). */
export function pathKeyOf(req: IncomingMessage): string | undefined {
  return keys.get(req) || undefined;
}
