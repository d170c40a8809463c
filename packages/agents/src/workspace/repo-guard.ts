import { lookup as dnsLookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { canonicalAddress, familyOf, isPublicAddress, serverAddresses } from './address-ranges.ts';
import { bracketed, parseRepo, type RemoteRepo, RepoRefused } from './repo-url.ts';

export { isPublicAddress } from './address-ranges.ts';
export { RepoRefused } from './repo-url.ts';

/**
 * Which repository URLs a user may hand the server to clone. Cloning runs on the
 * server, so a URL is a request the server makes on the user's behalf: without a
 * guard, a task could read the server's own disk or reach services on its private
 * network (SSRF).
 */
export interface RepoPolicy {
  /** Local paths and file:// URLs (on for a single-user local server, off for a team server). */
  allowLocal: boolean;
  /** Host names, IP addresses or CIDR ranges that may be cloned from although they are loopback or private. */
  allowPrivate: readonly string[];
}

export type RepoTarget =
  | { kind: 'local' }
  /** A network URL, normalised; `pin` is the address that was checked, for git to connect to (DNS rebinding). */
  | (RemoteRepo & { pin?: string });

type Lookup = (host: string) => Promise<Array<{ address: string; family: number }>>;

/** What the check reads from the world; tests answer DNS from a table and fake the server's addresses. */
export interface RepoCheckEnv {
  lookup?: Lookup;
  /** The server's own interface addresses; read from the system when absent. */
  ownAddresses?: readonly string[];
}

const defaultLookup: Lookup = (host) => dnsLookup(host, { all: true, verbatim: true });

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
    address: (a: string) => nets.check(canonicalAddress(a), familyOf(canonicalAddress(a))),
  };
}

/**
 * Checks a repository URL against the policy, resolving its host: every address it resolves to
 * must be public (not the server's own either), or allowed. Answers the normalised URL git is to
 * clone and the address it is to connect to.
 */
export async function checkRepoUrl(
  url: string,
  policy: RepoPolicy,
  env: RepoCheckEnv = {},
): Promise<RepoTarget> {
  const target = parseRepo(url);
  if (target.kind === 'local') {
    if (!policy.allowLocal) {
      throw new RepoRefused(
        'local repository paths are not allowed on this server; give an https:// or ssh URL (an admin can set ALLOW_LOCAL_REPOS=true)',
      );
    }
    return target;
  }
  const allowed = allowList(policy.allowPrivate);
  let addresses: string[];
  if (isIP(target.host)) addresses = [target.host];
  else {
    try {
      addresses = (await (env.lookup ?? defaultLookup)(target.host)).map((r) => r.address);
    } catch {
      throw new RepoRefused(`the repository host '${target.host}' does not resolve`);
    }
  }
  const own = env.ownAddresses ?? serverAddresses();
  // A host name the admin listed may resolve anywhere; it is still pinned to what it resolved to.
  const blocked = allowed.host(target.host)
    ? undefined
    : addresses.find((a) => !allowed.address(a) && !isPublicAddress(a, own));
  const first = addresses[0];
  if (blocked !== undefined || first === undefined) {
    throw new RepoRefused(
      `the repository host '${target.host}' is on a loopback or private network, which tasks may not reach (an admin can list it in ALLOWED_PRIVATE_HOSTS)`,
    );
  }
  return isIP(target.host) ? target : { ...target, pin: canonicalAddress(first) };
}

/**
 * What git is given to clone: the normalised URL that was checked. git's own protocol has no way
 * to pin an address, so it is given the checked address in place of the name.
 */
export function cloneUrl(target: RemoteRepo & { pin?: string }): string {
  if (target.scheme !== 'git' || !target.pin) return target.url;
  const url = new URL(target.url);
  return `git://${bracketed(target.pin)}${url.port ? `:${url.port}` : ''}${url.pathname}`;
}

/**
 * `git -c` settings that hold git to what was checked: no transport helpers, local
 * protocols only when allowed, no redirects to another host, and the checked address
 * (so a second DNS answer cannot point elsewhere): curl's resolve list for http(s),
 * ssh's Hostname option for ssh (the host key is still checked under the name).
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
  if (target.kind === 'remote' && target.pin) {
    if (target.scheme === 'https' || target.scheme === 'http') {
      cfg.push(`http.curloptResolve=${target.host}:${target.port}:${bracketed(target.pin)}`);
    } else if (target.scheme === 'ssh') {
      // git runs this through a shell; both values were parsed as an IP address and a host name.
      cfg.push(`core.sshCommand=ssh -o Hostname=${target.pin} -o HostKeyAlias=${target.host}`);
    }
  }
  return cfg.flatMap((c) => ['-c', c]);
}
