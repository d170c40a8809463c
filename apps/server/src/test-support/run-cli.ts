import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdtemp, realpath, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { envSchema } from '@ccl/config';

/** The repository root: the CLI runs from there, as `npm run clawlink` runs it. */
export const REPO_ROOT = fileURLToPath(new URL('../../../..', import.meta.url));
export const CLI = join(REPO_ROOT, 'apps', 'server', 'src', 'cli.ts');

/** The audit chain's key in tests (DATABASE_URL requires one); servers, CLI runs and checks share it. */
export const TEST_AUDIT_HMAC_KEY = 'test-audit-hmac-key-0123456789abcdef';

/** A line of a Node.js stack trace, e.g. "    at parse (/x/y.ts:3:9)". */
export const STACK_LINE = /^\s+at \S/m;

/**
 * The test process's environment without any of the server's own settings, plus `vars`.
 * A developer's exported DATABASE_URL, PORT… must never leak into the CLI under test.
 */
export function cliEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(envSchema.shape)) delete env[name];
  delete env.NODE_OPTIONS;
  // DATABASE_URL needs the audit chain's key; the embedded setup generates its own.
  const audit = vars.DATABASE_URL ? { AUDIT_HMAC_KEY: TEST_AUDIT_HMAC_KEY } : {};
  return { ...env, NODE_ENV: 'test', ...audit, ...vars };
}

export interface CliExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** One CLI process in its own process group, so everything it starts (embedded PostgreSQL…) can be killed with it. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  exit: CliExit | null = null;
  readonly exited: Promise<CliExit>;

  constructor(
    readonly args: string[],
    env: NodeJS.ProcessEnv,
    input?: string,
  ) {
    this.child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      cwd: REPO_ROOT,
      env,
      detached: true,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (input !== undefined) this.child.stdin?.end(input);
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.child.on('error', (err) => {
        this.stderr += `spawn failed: ${err.message}\n`;
        this.exit ??= { code: null, signal: null };
        resolve(this.exit);
      });
      // 'close' (not 'exit'): all output has been read by then.
      this.child.on('close', (code, signal) => {
        this.exit = { code, signal };
        running.delete(this);
        resolve(this.exit);
      });
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
  }

  /** Signals the CLI process only, as `npm run clawlink` forwards a Ctrl-C to it. */
  signal(signal: NodeJS.Signals): void {
    if (this.exit || this.child.pid === undefined) return;
    try {
      process.kill(this.child.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** Signals the whole process group (also whatever the CLI left behind after exiting). */
  signalGroup(signal: NodeJS.Signals): void {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }

  /** The exit, or null if the process still runs after `ms`. */
  async waitForExit(ms: number): Promise<CliExit | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<null>((resolve) => {
      timer = setTimeout(resolve, ms, null);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** What to print when an expectation about this process fails. */
  describe(): string {
    const exit = this.exit ? `code ${this.exit.code}, signal ${this.exit.signal}` : 'still running';
    return `clawlink ${this.args.join(' ')} (${exit})\n--- stdout ---\n${this.stdout}\n--- stderr ---\n${this.stderr}`;
  }
}

const running = new Set<CliProcess>();

/** Kills every CLI process still running, with its process group; for afterAll/afterEach. */
export async function killAllCli(): Promise<void> {
  const left = [...running];
  for (const p of left) p.signalGroup('SIGKILL');
  await Promise.all(left.map((p) => p.waitForExit(5_000)));
}

export interface CliResult extends CliExit {
  stdout: string;
  stderr: string;
  /** Command, exit and output, for assertion messages. */
  text: string;
}

/** Runs `clawlink <args>` to completion; kills it (and its group) after `timeoutMs`. */
export async function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 45_000,
  input?: string,
): Promise<CliResult> {
  const p = new CliProcess(args, env, input);
  const exit = await p.waitForExit(timeoutMs);
  if (!exit) {
    p.signalGroup('SIGKILL');
    await p.waitForExit(5_000);
    throw new Error(`still running after ${timeoutMs} ms: ${p.describe()}`);
  }
  return { ...exit, stdout: p.stdout, stderr: p.stderr, text: p.describe() };
}

/** A TCP port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** True when something accepts a TCP connection on 127.0.0.1:port, false when it is refused. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(2_000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`TCP connect to 127.0.0.1:${port} timed out`));
    });
    socket.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'ECONNREFUSED' ? resolve(false) : reject(err),
    );
  });
}

/**
 * A temporary directory (its real path) that the `postgres` account can traverse:
 * run as root, the embedded PostgreSQL runs as that account.
 */
export async function makeTempDir(label: string): Promise<string> {
  const dir = await realpath(await mkdtemp(join(tmpdir(), `ccl-${label}-`)));
  await chmod(dir, 0o755);
  return dir;
}

/** Processes whose working directory is inside `dir` (an embedded PostgreSQL works in its data dir). Linux only. */
function processesIn(dir: string): Array<{ pid: number; name: string }> {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const found: Array<{ pid: number; name: string }> = [];
  for (const entry of entries) {
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd === dir || cwd.startsWith(`${dir}/`)) {
        found.push({ pid: Number(entry), name: readFileSync(`/proc/${entry}/comm`, 'utf8').trim() });
      }
    } catch {
      // Exited meanwhile, or not ours to inspect.
    }
  }
  return found;
}

/** Stops whatever still runs inside `dir`, then deletes it. */
export async function removeTempDir(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const left = processesIn(dir);
    if (left.length === 0) break;
    for (const { pid, name } of left) {
      try {
        // SIGQUIT is PostgreSQL's immediate shutdown, which also releases its shared memory.
        process.kill(pid, name === 'postgres' ? 'SIGQUIT' : 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    await sleep(250);
  }
  await rm(dir, { recursive: true, force: true, maxRetries: 5 });
}
