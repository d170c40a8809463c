import { setTimeout as delay } from 'node:timers/promises';
import type { NetworkPolicy } from './network-policy.ts';
import { CappedOutput } from './output-cap.ts';
import { terminateProcessGroup } from './process-group.ts';
import { type Launch, type Sandbox, SandboxUnavailable } from './sandbox.ts';
import { spawnLaunched } from './sandbox-spawn.ts';

export interface RunCommandOptions {
  command: string;
  cwd: string;
  /** The complete environment of the command (see minimalEnv): nothing is inherited. */
  env: Record<string, string>;
  timeoutMs: number;
  outputCapBytes: number;
  signal: AbortSignal;
  sandbox: Sandbox;
  network: NetworkPolicy;
}

/** How long to wait for output still in the pipes once the command's processes are gone. */
const DRAIN_MS = 500;

/**
 * Runs `/bin/sh -c` in the workspace, inside the sandbox (bubblewrap: its own PID, mount,
 * user and network namespaces), as the leader of a new process group, so the command and
 * everything it started can be killed together. On timeout or abort the group gets SIGTERM,
 * then SIGKILL after 2 s; in the sandbox, bwrap dies of the SIGTERM and takes its whole PID
 * namespace with it at once. When the shell exits normally, anything it left running in the
 * background is killed the same way: a finished tool call must not leave processes behind (so
 * neither `server &` nor `setsid server &` outlives it).
 *
 * Resolves with the interleaved, capped output and the exit status (or the sandbox's refusal);
 * rejects only with the abort reason, after the group is gone.
 */
export async function runCommand(opts: RunCommandOptions): Promise<{ output: string; isError: boolean }> {
  opts.signal.throwIfAborted();
  let launch: Launch;
  try {
    // `exec 2>&1` on its own line first: stderr joins stdout in the same pipe, so the
    // two stay in the order they were written whatever the command's own syntax.
    launch = await opts.sandbox.launch({
      argv: ['/bin/sh', '-c', `exec 2>&1\n${opts.command}`],
      workspace: opts.cwd,
      env: opts.env,
      network: opts.network,
    });
  } catch (err) {
    if (err instanceof SandboxUnavailable) return { output: err.message, isError: true };
    throw err;
  }
  try {
    return await supervise(launch, opts);
  } finally {
    await launch.release();
  }
}

async function supervise(
  launch: Launch,
  opts: RunCommandOptions,
): Promise<{ output: string; isError: boolean }> {
  const { child, settled } = spawnLaunched(launch, { stdin: 'ignore', detached: true });
  if (!child.stdout || !child.stderr) throw new Error('the command was spawned without pipes');
  const out = new CappedOutput(opts.outputCapBytes);
  child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => out.push(chunk));
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', reject);
  });
  // A later 'error' (a failed kill) must not become an uncaught exception; the exit still comes.
  child.on('error', () => undefined);

  let stopReason: 'timeout' | 'abort' | null = null;
  let killing: Promise<void> | null = null;
  const stop = (why: 'timeout' | 'abort') => {
    stopReason ??= why;
    if (child.pid !== undefined) killing ??= terminateProcessGroup(child.pid);
  };
  const timer = setTimeout(() => stop('timeout'), opts.timeoutMs);
  const onAbort = () => stop('abort');
  opts.signal.addEventListener('abort', onAbort, { once: true });

  try {
    let status: { code: number | null; signal: NodeJS.Signals | null };
    try {
      status = await exited;
    } catch (err) {
      return { output: `could not start the command: ${(err as Error).message}`, isError: true };
    }
    clearTimeout(timer);
    // Background leftovers of a normal exit, or the rest of a group being stopped.
    if (child.pid !== undefined) killing ??= terminateProcessGroup(child.pid);
    await killing;
    await settled();
    // A process that left the group (setsid) may still hold the pipe; do not wait for it forever.
    const drained = new AbortController();
    await Promise.race([
      closed,
      delay(DRAIN_MS, undefined, { signal: drained.signal }).catch(() => undefined),
    ]);
    drained.abort();
    child.stdout?.destroy();
    child.stderr?.destroy();

    if (stopReason === 'abort') throw opts.signal.reason ?? new Error('aborted');
    const body = out.text() || '(no output)';
    const trailer = body.endsWith('\n') ? '' : '\n';
    if (stopReason === 'timeout') {
      const secs = opts.timeoutMs / 1000;
      return {
        output: `${body}${trailer}[timed out after ${secs} s: the command and its process group were killed]`,
        isError: true,
      };
    }
    if (status.signal) return { output: `${body}${trailer}[killed by ${status.signal}]`, isError: true };
    return { output: `${body}${trailer}[exit code: ${status.code}]`, isError: status.code !== 0 };
  } finally {
    clearTimeout(timer);
    opts.signal.removeEventListener('abort', onAbort);
  }
}
