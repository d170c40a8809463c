import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BwrapPlan, bwrapOptions, nodeInstall, SANDBOX_HOME } from './bwrap-args.ts';
import { EGRESS_PORT, EGRESS_SOCKET, FORWARDER_PATH, FORWARDER_SOURCE } from './egress-forwarder.ts';
import { startEgressProxy } from './egress-proxy.ts';
import type { NetworkPolicy } from './network-policy.ts';
import { spawnLaunched } from './sandbox-spawn.ts';

export type SandboxStatus =
  | { state: 'on'; bwrap: string }
  /** SANDBOX=off: commands run as the server's own processes. */
  | { state: 'off' }
  /** SANDBOX=on but bubblewrap cannot start here: commands are refused. */
  | { state: 'unavailable'; reason: string };

/** Thrown by `launch` when commands must not run; the message says why, for the agent and the person. */
export class SandboxUnavailable extends Error {
  override name = 'SandboxUnavailable';
}

export interface SandboxOptions {
  /** SANDBOX=on (default): every command in bubblewrap, or refused. false: the logged opt-out. */
  enabled: boolean;
  /** ALLOWED_PRIVATE_HOSTS: private destinations the egress proxy may reach. */
  allowPrivate?: readonly string[];
  /**
   * Where bwrap may be. Fixed system paths rather than the server's PATH, so that a directory
   * early on PATH cannot stand in for the sandbox.
   */
  bwrapPaths?: readonly string[];
}

export interface LaunchRequest {
  /** The program and its arguments, as seen inside the sandbox. */
  argv: readonly string[];
  /** The workspace (real path): the only writable place, and the working directory. */
  workspace: string;
  /** The command's whole environment; HOME and PATH are replaced by the sandbox's own. */
  env: Readonly<Record<string, string>>;
  network: NetworkPolicy;
  /** Host paths to show read-only (the goose binary and its configuration). */
  readOnly?: ReadonlyArray<{ host: string; inside: string }>;
  /** `host:port` the runner itself needs reachable (goose's model provider). */
  runnerDestinations?: readonly string[];
}

/** How to spawn one launched command; `release` after it has exited. */
export interface Launch {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  /** Written, in order, to the child's fds 3, 4, … (spawn them as 'pipe'). */
  fdData: string[];
  /** The fd after those, on which bwrap reports its sandbox (--info-fd); unset when unconfined. */
  infoFd?: number;
  release(): Promise<void>;
}

export interface Sandbox {
  /** Probed once (bwrap … /bin/true) and remembered. */
  status(): Promise<SandboxStatus>;
  /** Rejects with SandboxUnavailable when SANDBOX=on and bubblewrap does not work here. */
  launch(req: LaunchRequest): Promise<Launch>;
}

const DEFAULT_BWRAP_PATHS = ['/usr/bin/bwrap', '/usr/local/bin/bwrap', '/bin/bwrap'];
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PROBE_TIMEOUT_MS = 10_000;

export function createSandbox(opts: SandboxOptions): Sandbox {
  let probed: Promise<SandboxStatus> | undefined;
  const status = () => {
    probed ??= opts.enabled
      ? probe(opts.bwrapPaths ?? DEFAULT_BWRAP_PATHS)
      : Promise.resolve({ state: 'off' as const });
    return probed;
  };
  return {
    status,
    async launch(req) {
      const s = await status();
      if (s.state === 'off') {
        const [file = '/bin/sh', ...args] = req.argv;
        return { file, args, env: { ...req.env }, cwd: req.workspace, fdData: [], release: nothingToRelease };
      }
      if (s.state === 'unavailable') throw new SandboxUnavailable(refusal(s.reason));
      return bwrapLaunch(s.bwrap, req, opts.allowPrivate ?? []);
    },
  };
}

async function nothingToRelease(): Promise<void> {}

function refusal(reason: string): string {
  return (
    `refused: agent commands run only inside the sandbox, and it cannot start on this server (${reason}). ` +
    'An admin can install bubblewrap, allow user namespaces, or set SANDBOX=off to run commands unconfined.'
  );
}

async function bwrapLaunch(
  bwrap: string,
  req: LaunchRequest,
  allowPrivate: readonly string[],
): Promise<Launch> {
  const node = nodeInstall(process.execPath);
  const readOnly = [...(req.readOnly ?? [])];
  if (node) readOnly.push({ host: node.prefix, inside: node.prefix });
  const env: Record<string, string> = {
    ...req.env,
    HOME: SANDBOX_HOME,
    PATH: node ? `${node.bin}:${SYSTEM_PATH}` : SYSTEM_PATH,
  };
  const plan: BwrapPlan = { workspace: req.workspace, env, readOnly };
  let argv = [...req.argv];
  let release = async () => {};

  const destinations = req.runnerDestinations ?? [];
  if (req.network.mode !== 'none' || destinations.length > 0) {
    // The proxy's socket lives in a private directory of the server; only this sandbox gets it.
    const dir = await mkdtemp(join(tmpdir(), 'ccl-egress-'));
    const socket = join(dir, 'egress.sock');
    const proxy = await startEgressProxy(socket, {
      network: req.network,
      allowPrivate,
      runnerDestinations: destinations,
    }).catch(async (err: unknown) => {
      await rm(dir, { recursive: true, force: true });
      throw err;
    });
    release = async () => {
      await proxy.close();
      await rm(dir, { recursive: true, force: true });
    };
    const url = `http://127.0.0.1:${EGRESS_PORT}`;
    Object.assign(env, {
      HTTP_PROXY: url,
      HTTPS_PROXY: url,
      http_proxy: url,
      https_proxy: url,
      NO_PROXY: 'localhost,127.0.0.1,::1',
      no_proxy: 'localhost,127.0.0.1,::1',
    });
    plan.egressSocket = { host: socket, inside: EGRESS_SOCKET };
    plan.forwarder = { inside: FORWARDER_PATH, source: FORWARDER_SOURCE };
    argv = [process.execPath, FORWARDER_PATH, EGRESS_SOCKET, String(EGRESS_PORT), ...argv];
  }
  const { options, fdData } = bwrapOptions(plan);
  // The fds after the options (3) and the data: bwrap reports the sandbox's init there.
  const infoFd = 4 + fdData.length;
  options.push('--info-fd', String(infoFd));
  return {
    file: bwrap,
    // The command stays on the command line (bwrap reads only options from --args).
    args: ['--args', '3', '--', ...argv],
    // bwrap is PID 1 inside and keeps the environment it was started with (/proc/1/environ).
    env: {},
    cwd: req.workspace,
    fdData: [options.map((o) => `${o}\0`).join(''), ...fdData],
    infoFd,
    release,
  };
}

async function probe(paths: readonly string[]): Promise<SandboxStatus> {
  const bwrap = paths.find((p) => {
    try {
      accessSync(p, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!bwrap) {
    return { state: 'unavailable', reason: `bubblewrap (bwrap) is not installed at ${paths.join(', ')}` };
  }
  const dir = await mkdtemp(join(tmpdir(), 'ccl-sandbox-probe-'));
  try {
    const launch = await bwrapLaunch(
      bwrap,
      { argv: ['/bin/true'], workspace: dir, env: {}, network: { mode: 'none' } },
      [],
    );
    const failure = await runProbe(launch);
    return failure === null ? { state: 'on', bwrap } : { state: 'unavailable', reason: failure };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** null when `bwrap … /bin/true` exits 0; otherwise bwrap's own words. */
function runProbe(launch: Launch): Promise<string | null> {
  return new Promise((resolve) => {
    const { child } = spawnLaunched(launch, { stdin: 'ignore', detached: false });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), PROBE_TIMEOUT_MS);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve(`cannot run bwrap: ${err.message}`);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(null);
      const said = stderr.trim().split('\n').at(-1);
      resolve(said || `bwrap ${signal ? `was killed by ${signal}` : `exited with code ${code}`}`);
    });
  });
}
