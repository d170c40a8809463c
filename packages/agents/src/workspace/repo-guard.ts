import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { isAbsolute } from 'node:path';

/**
 * Which repository URLs a user may hand the server to clone. Cloning runs on the
 * server, so a URL is a request the server makes on the user's behalf: without a
 * guard, a task could read the server's own disk or reach services on its private
 * network (SSRF).
 */
export interface RepoPolicy {
  /** Local paths and file:// URLs (on for a single-user server on loopback, off for a team server). */
  allowLocal: boolean;
  /** Host names, IP addresses or CIDR ranges that may be cloned from although they are loopback or private. */
  allowPrivate: readonly string[];
}

export class RepoRefused extends Error {
  override name = 'RepoRefused';
}

export type RepoTarget =
  | { kind: 'local' }
  /** A network URL; `pin` is the address that was checked, for git to connect to (DNS rebinding). */
  | { kind: 'remote'; scheme: string; host: string; port: number; pin?: string };

type Lookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

const SCHEMES: Record<string, number> = { https: 443, http: 80, ssh: 22, git: 9418 };
// user@host:path, git's scp-like syntax for ssh (no scheme, a colon before the first slash).
const SCP_LIKE = /^(?:[^@/\s]+@)?(\[[^\]]+\]|[^:/\s]+):(?!\/\/)/;

/** Addresses a user-supplied URL must not reach unless an admin allowed them. */
const NOT_PUBLIC = (() => {
  const list = new BlockList();
  for (const [net, bits] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['224.0.0.0', 3],
  ] as const)
    list.addSubnet(net, bits, 'ipv4');
  for (const [net, bits] of [
    ['::', 128],
    ['::1', 128],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
    ['64:ff9b::', 96],
  ] as const)
    list.addSubnet(net, bits, 'ipv6');
  return list;
})();

function familyOf(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

/** An IPv4-mapped IPv6 address (::ffff:10.0.0.1) is judged as the IPv4 address it carries. */
function unmapped(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return m?.[1] ?? address;
}

export function isPublicAddress(address: string): boolean {
  const a = unmapped(address);
  return !NOT_PUBLIC.check(a, familyOf(a));
}

function allowList(entries: readonly string[]) {
  const hosts = new Set<string>();
  const nets = new BlockList();
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    const [net, bits] = entry.split('/');
    if (net && isIP(net)) {
      const family = familyOf(net);
      if (bits === undefined) nets.addAddress(net, family);
      else nets.addSubnet(net, Number(bits), family);
    } else hosts.add(entry);
  }
  return {
    host: (h: string) => hosts.has(h.toLowerCase()),
    address: (a: string) => nets.check(unmapped(a), familyOf(unmapped(a))),
  };
}

function parse(
  url: string,
): { kind: 'local' } | { kind: 'remote'; scheme: string; host: string; port: number } {
  if (url.startsWith('-')) throw new RepoRefused('a repository URL cannot start with "-"');
  if (/^[a-z][a-z0-9+.-]*::/i.test(url)) {
    // git's transport::address form (ext::, fd::) runs commands on the server.
    throw new RepoRefused(`the repository URL uses a git transport helper, which is not allowed`);
  }
  if (isAbsolute(url) || url.startsWith('.') || /^file:/i.test(url)) return { kind: 'local' };
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme) {
    const port = SCHEMES[scheme];
    if (port === undefined) {
      throw new RepoRefused(`repository URLs must use https, http, ssh or git, not ${scheme}://`);
    }
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new RepoRefused('the repository URL is not a valid URL');
    }
    const host = parsed.hostname.replace(/^\[|\]$/g, '');
    if (!host) throw new RepoRefused('the repository URL has no host');
    return { kind: 'remote', scheme, host, port: parsed.port ? Number(parsed.port) : port };
  }
  const scp = SCP_LIKE.exec(url);
  if (scp?.[1]) return { kind: 'remote', scheme: 'ssh', host: scp[1].replace(/^\[|\]$/g, ''), port: 22 };
  throw new RepoRefused('the repository is neither a URL (https://, ssh://, git@host:path) nor a path');
}

/**
 * Checks a repository URL against the policy, resolving its host: every address it
 * resolves to must be public, or allowed. Answers what git may connect to.
 */
export async function checkRepoUrl(
  url: string,
  policy: RepoPolicy,
  lookup: Lookup = defaultLookup,
): Promise<RepoTarget> {
  const target = parse(url.trim());
  if (target.kind === 'local') {
    if (!policy.allowLocal) {
      throw new RepoRefused(
        'local repository paths are not allowed on this server; give an https:// or ssh URL (an admin can set ALLOW_LOCAL_REPOS=true)',
      );
    }
    return target;
  }
  const allowed = allowList(policy.allowPrivate);
  if (allowed.host(target.host)) return target;
  let addresses: string[];
  if (isIP(target.host)) addresses = [target.host];
  else {
    try {
      addresses = (await lookup(target.host)).map((r) => r.address);
    } catch {
      throw new RepoRefused(`the repository host '${target.host}' does not resolve`);
    }
  }
  const blocked = addresses.find((a) => !isPublicAddress(a) && !allowed.address(a));
  if (blocked !== undefined || addresses.length === 0) {
    throw new RepoRefused(
      `the repository host '${target.host}' is on a loopback or private network, which tasks may not reach (an admin can list it in ALLOWED_PRIVATE_HOSTS)`,
    );
  }
  const first = addresses[0];
  return { ...target, ...(first !== undefined ? { pin: first } : {}) };
}

/**
 * `git -c` settings that hold git to what was checked: no transport helpers, local
 * protocols only when allowed, no redirects to another host, and for http(s) the
 * checked address (so a second DNS answer cannot point elsewhere).
 */
export function gitGuardConfig(target: RepoTarget, policy: RepoPolicy): string[] {
  const cfg = [
    'protocol.allow=never',
    'protocol.https.allow=always',
    'protocol.http.allow=always',
    'protocol.ssh.allow=always',
    'protocol.git.allow=always',
    `protocol.file.allow=${policy.allowLocal ? 'always' : 'never'}`,
    'http.followRedirects=false',
  ];
  if (target.kind === 'remote' && target.pin && (target.scheme === 'https' || target.scheme === 'http')) {
    const address = isIP(target.pin) === 6 ? `[${target.pin}]` : target.pin;
    cfg.push(`http.curloptResolve=${target.host}:${target.port}:${address}`);
  }
  return cfg.flatMap((c) => ['-c', c]);
}
