import type { IncomingMessage } from 'node:http';

/** Keys taken from `/k/<key>/…` base URLs, by raw request; nothing else keeps them. */
const keys = new WeakMap<IncomingMessage, string>();

const PATH_KEY = /^\/k\/([^/?#]*)(.*)$/s;

function decode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/**
 * Fastify's rewriteUrl, run before routing: `/k/<key>/api/…` is served as `/api/…` with
 * `<key>` as its bearer credential, for clients that can set a base URL but no header
 * (CoderClaw's adapter). The key leaves the URL here, so request.url, the request log lines
 * and "no route" answers never hold it; originalUrl keeps the path with the key masked.
 */
export function stripPathKey(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const match = PATH_KEY.exec(url);
  if (!match) return url;
  const [, key = '', rest = ''] = match;
  keys.set(req, decode(key));
  const path = rest.startsWith('/') ? rest : `/${rest}`;
  (req as IncomingMessage & { originalUrl?: string }).originalUrl = `/k/[redacted]${path}`;
  return path;
}

/** The key this request carried in its path, if any (an empty key counts as none). */
export function pathKeyOf(req: IncomingMessage): string | undefined {
  return keys.get(req) || undefined;
}
