import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { dirname } from 'node:path';

/** The sandbox's user: not root, so bwrap drops every capability inside. */
export const SANDBOX_UID = 1000;
export const SANDBOX_HOME = '/home/agent';

const PASSWD = `root:x:0:0:root:/root:/usr/sbin/nologin
agent:x:${SANDBOX_UID}:${SANDBOX_UID}:agent:${SANDBOX_HOME}:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
`;
const GROUP = `root:x:0:
agent:x:${SANDBOX_UID}:
nogroup:x:65534:
`;

/**
 * The /etc a shell, git, TLS clients and language runtimes need, and nothing else: no shadow,
 * no machine credentials (npmrc, pip.conf, gitconfig credential helpers), no service configs.
 * The sandbox user maps to the server's own user outside, so every file visible inside is
 * readable as its owner would read it; what is not listed here does not exist inside.
 */
const ETC_FILES = [
  'alternatives',
  'ssl',
  'ca-certificates',
  'hosts',
  'host.conf',
  'nsswitch.conf',
  'gai.conf',
  'services',
  'protocols',
  'localtime',
  'timezone',
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'os-release',
  'debian_version',
  'mime.types',
  'terminfo',
];
/** Configuration directories of language runtimes (python3.11, perl, java-17-openjdk …). */
const ETC_RUNTIMES = /^(python3(\.\d+)?|perl|java-\d+-openjdk)$/;

/** Top-level links or directories beside /usr (merged-/usr hosts link them into /usr). */
const USR_SIBLINGS = ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];

export interface BwrapPlan {
  workspace: string;
  env: Record<string, string>;
  /** Host paths made visible read-only at `inside`. */
  readOnly: ReadonlyArray<{ host: string; inside: string }>;
  /** The unix socket of the egress proxy, when the command has network. */
  egressSocket?: { host: string; inside: string };
  /** The in-sandbox forwarder program (passed as data). */
  forwarder?: { inside: string; source: string };
}

/**
 * bwrap's options (not the command), and the data each numbered fd carries. The options travel
 * through fd 3 (`--args 3`), so the environment never shows in the host's process list.
 */
export function bwrapOptions(plan: BwrapPlan): { options: string[]; fdData: string[] } {
  const fdData: string[] = [];
  const fd = (data: string) => {
    fdData.push(data);
    return String(3 + fdData.length);
  };
  const o: string[] = [
    // --unshare-all only *tries* a user namespace (and skips it as root): ask for one outright.
    '--unshare-all',
    '--unshare-user',
    '--disable-userns',
    '--uid',
    String(SANDBOX_UID),
    '--gid',
    String(SANDBOX_UID),
    '--hostname',
    'sandbox',
    '--die-with-parent',
    '--new-session',
    '--ro-bind',
    '/usr',
    '/usr',
  ];
  for (const path of USR_SIBLINGS) {
    const kind = entryKind(path);
    if (kind === 'link') o.push('--symlink', readlinkSync(path), path);
    else if (kind === 'dir') o.push('--ro-bind', path, path);
  }
  // /tmp and HOME: empty tmpfs per command, mounted before anything is bound below them.
  o.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', SANDBOX_HOME, '--dir', '/etc');
  for (const name of etcEntries()) o.push('--ro-bind-try', `/etc/${name}`, `/etc/${name}`);
  o.push('--ro-bind-data', fd(PASSWD), '/etc/passwd', '--ro-bind-data', fd(GROUP), '/etc/group');
  for (const { host, inside } of plan.readOnly) o.push('--ro-bind', host, inside);
  if (plan.egressSocket) o.push('--bind', plan.egressSocket.host, plan.egressSocket.inside);
  if (plan.forwarder) o.push('--ro-bind-data', fd(plan.forwarder.source), plan.forwarder.inside);
  o.push('--bind', plan.workspace, plan.workspace);
  // The root is bwrap's own tmpfs: read-only once every mount point exists, so that only the
  // workspace, /tmp and HOME take writes.
  o.push('--remount-ro', '/', '--chdir', plan.workspace, '--clearenv');
  for (const [name, value] of Object.entries(plan.env)) o.push('--setenv', name, value);
  return { options: o, fdData };
}

/** The node installation to make visible, when it is not under /usr already (nvm, /opt). */
export function nodeInstall(execPath: string): { prefix: string; bin: string } | undefined {
  if (execPath.startsWith('/usr/')) return undefined;
  const bin = dirname(execPath);
  return { prefix: dirname(bin), bin };
}

function entryKind(path: string): 'link' | 'dir' | 'none' {
  try {
    const st = lstatSync(path);
    if (st.isSymbolicLink()) return 'link';
    return st.isDirectory() ? 'dir' : 'none';
  } catch {
    return 'none';
  }
}

function etcEntries(): string[] {
  let all: string[];
  try {
    all = readdirSync('/etc');
  } catch {
    return [];
  }
  return all.filter((name) => ETC_FILES.includes(name) || ETC_RUNTIMES.test(name)).sort();
}
