/**
 * What the network of an agent's commands may reach, from the run's options (project settings,
 * tightened by the task; see resolveRunOptions in core):
 * - none: nothing; the sandbox has its own network namespace with only a loopback device.
 * - allowlist: the listed host names, through the runner's egress proxy (HTTP and HTTPS via
 *   HTTP_PROXY/HTTPS_PROXY); `*.example.com` also allows every subdomain.
 * - open: every public host through the same proxy. Loopback, private and link-local
 *   addresses stay out of reach (the server's database, Redis and API listen there) unless an
 *   admin lists them in ALLOWED_PRIVATE_HOSTS.
 */
export type NetworkPolicy =
  | { mode: 'none' }
  | { mode: 'open' }
  | { mode: 'allowlist'; hosts: readonly string[] };

export const NETWORK_MODES = ['none', 'allowlist', 'open'] as const;

/** Reads `network` and `network_allow` of run options or project settings; anything else is none. */
export function networkPolicyOf(context: Readonly<Record<string, unknown>>): NetworkPolicy {
  const mode = context.network;
  if (mode === 'open') return { mode: 'open' };
  if (mode === 'allowlist') {
    const raw = Array.isArray(context.network_allow) ? context.network_allow : [];
    return { mode: 'allowlist', hosts: raw.filter((h): h is string => typeof h === 'string') };
  }
  return { mode: 'none' };
}

/** True when `host` is named by an allowlist entry (exactly, or under a `*.` entry). */
export function hostAllowed(hosts: readonly string[], host: string): boolean {
  const h = normalizeHost(host);
  return hosts.some((raw) => {
    const entry = normalizeHost(raw);
    if (entry.startsWith('*.')) return h.endsWith(entry.slice(1)) && h.length > entry.length - 1;
    return entry === h;
  });
}

/** Lower case, without IPv6 brackets or a trailing dot, so spellings of one host compare equal. */
export function normalizeHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');
}

const RANK = { none: 0, allowlist: 1, open: 2 } as const;

/**
 * The network of a run: the project's setting is a ceiling the task's context can only lower
 * (open > allowlist > none). A task's network_allow keeps only hosts the project's list (or
 * open) covers. Returns the two context keys to store with the execution.
 */
export function narrowNetwork(
  project: Readonly<Record<string, unknown>>,
  task: Readonly<Record<string, unknown>>,
): { network: NetworkPolicy['mode']; network_allow?: string[] } {
  const ceiling = networkPolicyOf(project);
  const asked = task.network === undefined ? ceiling : networkPolicyOf({ network_allow: [], ...task });
  const mode = RANK[asked.mode] <= RANK[ceiling.mode] ? asked.mode : ceiling.mode;
  if (mode !== 'allowlist') return { network: mode };
  const projectHosts = ceiling.mode === 'allowlist' ? ceiling.hosts : undefined;
  const taskHosts = Array.isArray(task.network_allow)
    ? task.network_allow.filter((h): h is string => typeof h === 'string')
    : undefined;
  const hosts = taskHosts ?? projectHosts ?? [];
  return {
    network: 'allowlist',
    network_allow: projectHosts ? hosts.filter((h) => hostAllowed(projectHosts, h)) : [...hosts],
  };
}
