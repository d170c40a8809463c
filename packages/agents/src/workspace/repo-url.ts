import { isIP } from 'node:net';
import { isAbsolute } from 'node:path';

/** A repository URL was refused; the message says why, for the person who gave it. */
export class RepoRefused extends Error {
  override name = 'RepoRefused';
}

/** A network repository, as parsed once: `url` is the normalised URL, the one git is given. */
export interface RemoteRepo {
  kind: 'remote';
  scheme: 'https' | 'http' | 'ssh' | 'git';
  /** Lower-case host name, or an IP address (IPv6 without brackets). */
  host: string;
  port: number;
  url: string;
}

const DEFAULT_PORTS = { https: 443, http: 80, ssh: 22, git: 9418 } as const;
type Scheme = keyof typeof DEFAULT_PORTS;
const isScheme = (s: string): s is Scheme => Object.hasOwn(DEFAULT_PORTS, s);

// user@host:path, git's scp-like syntax for ssh: no scheme, a colon before the first slash.
const SCP_LIKE = /^(?:([^@/:[\]]+)@)?(\[[^\]/]+\]|[^@/:[\]]+):(?!\/\/)(.+)$/;
// Neither may start with "-": ssh would read it as an option.
const DNS_NAME = /^(?!-)[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?$/;
const SSH_USER = /^(?!-)[A-Za-z0-9._-]{1,64}$/;
// What git passes to the remote shell as the path: plain characters only, no option.
const SSH_PATH = /^(?!-)[A-Za-z0-9._~/+-]+$/;

/**
 * Turns a user's repository string into a local path or one normalised network URL, with the
 * WHATWG URL parser alone. Whatever two parsers could read differently is refused: a backslash
 * (a path separator to WHATWG, part of the user name to curl), white space and control
 * characters in a URL (WHATWG drops tabs and newlines silently), and credentials or a user name
 * in http(s) and git URLs. ssh keeps a plain login user (`git@`), which carries no secret.
 */
export function parseRepo(raw: string): { kind: 'local' } | RemoteRepo {
  const url = raw.trim();
  if (url.startsWith('-')) throw new RepoRefused('a repository URL cannot start with "-"');
  if (url.includes('\\')) throw new RepoRefused('a repository URL cannot contain a backslash');
  if (/^[a-z][a-z0-9+.-]*::/i.test(url)) {
    // git's transport::address form (ext::, fd::) runs commands on the server.
    throw new RepoRefused('the repository URL uses a git transport helper, which is not allowed');
  }
  if (isAbsolute(url) || url.startsWith('.') || /^file:/i.test(url)) return { kind: 'local' };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme !== undefined) return parseUrl(url, scheme);
  const scp = SCP_LIKE.exec(url);
  if (scp) return parseScpLike(scp[1], scp[2] ?? '', scp[3] ?? '');
  throw new RepoRefused('the repository is neither a URL (https://, ssh://, git@host:path) nor a path');
}

function parseUrl(raw: string, scheme: string): RemoteRepo {
  if (!isScheme(scheme)) {
    throw new RepoRefused(`repository URLs must use https, http, ssh or git, not ${scheme}://`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is refused.
  if (/[\s\u0000-\u001f\u007f]/.test(raw)) {
    throw new RepoRefused('a repository URL cannot contain spaces or control characters');
  }
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new RepoRefused('the repository URL is not a valid URL');
  }
  if (parsed.password || (parsed.username && (scheme !== 'ssh' || !SSH_USER.test(parsed.username)))) {
    throw new RepoRefused(
      "a repository URL cannot carry a user name or password (the task would store it, and its readers see it); use a URL without one, or ssh with the server's key",
    );
  }
  const host = normaliseHost(parsed.hostname);
  const port = parsed.port ? Number(parsed.port) : DEFAULT_PORTS[scheme];
  if (scheme === 'https' || scheme === 'http') {
    parsed.hash = '';
    return { kind: 'remote', scheme, host, port, url: parsed.href };
  }
  // ssh and git are not "special" to WHATWG: their host is not normalised and their path is
  // opaque, so both are rebuilt from checked parts.
  const path = decodedPath(parsed.pathname);
  if (!SSH_PATH.test(path.replace(/^\//, '')) || parsed.search || parsed.hash) {
    throw new RepoRefused('the repository path may hold only letters, digits and . _ ~ / + -');
  }
  const user = parsed.username ? `${parsed.username}@` : '';
  const authority = `${user}${bracketed(host)}${parsed.port ? `:${port}` : ''}`;
  return { kind: 'remote', scheme, host, port, url: `${scheme}://${authority}${path}` };
}

function parseScpLike(user: string | undefined, rawHost: string, path: string): RemoteRepo {
  if ((user !== undefined && !SSH_USER.test(user)) || !SSH_PATH.test(path)) {
    throw new RepoRefused('the repository is neither a URL (https://, ssh://, git@host:path) nor a path');
  }
  const host = normaliseHost(rawHost);
  const url = `${user ? `${user}@` : ''}${bracketed(host)}:${path}`;
  return { kind: 'remote', scheme: 'ssh', host, port: DEFAULT_PORTS.ssh, url };
}

/**
 * The host as an http URL would have it (lower case, IDN as punycode, 0x7f.1 as 127.0.0.1,
 * IPv6 compressed), so that every scheme is checked and cloned with the same spelling.
 */
function normaliseHost(raw: string): string {
  let host: string;
  try {
    host = new URL(`http://${raw}/`).hostname;
  } catch {
    throw new RepoRefused('the repository URL has an invalid host');
  }
  const bare = host.replace(/^\[|\]$/g, '');
  // WHATWG lets $ ( ) ; ` & through in a host; a DNS name has none of them (and ssh's host is
  // handed to a shell).
  if (!isIP(bare) && !DNS_NAME.test(bare)) throw new RepoRefused('the repository URL has an invalid host');
  return bare;
}

function decodedPath(pathname: string): string {
  try {
    return decodeURIComponent(pathname);
  } catch {
    throw new RepoRefused('the repository path is not valid percent-encoding');
  }
}

export function bracketed(host: string): string {
  return isIP(host) === 6 ? `[${host}]` : host;
}
