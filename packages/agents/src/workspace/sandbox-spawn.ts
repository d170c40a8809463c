import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import type { Launch } from './sandbox.ts';

export interface Spawned {
  child: ChildProcess;
  /**
   * Resolves once no process of the sandbox is left. bwrap exits as soon as the command does,
   * while the kernel is still killing what the command left in its PID namespace; the
   * namespace's init (bwrap's PID 1) ends only after every other process in it is gone.
   */
  settled(): Promise<void>;
}

/** Longest wait for a sandbox to empty after bwrap exited (the kernel's SIGKILLs take microseconds). */
const SETTLE_TIMEOUT_MS = 2000;
const POLL_MS = 10;

/**
 * Spawns a launched command, handing bwrap its options and data on fds 3, 4, … and reading
 * the host pid of its init from the info fd. A bwrap that fails early closes its ends; the
 * write errors that follow say nothing its exit does not.
 */
export function spawnLaunched(
  launch: Launch,
  opts: { stdin: 'ignore' | 'pipe'; detached: boolean },
): Spawned {
  const extra = launch.fdData.map(() => 'pipe' as const);
  const child = spawn(launch.file, launch.args, {
    cwd: launch.cwd,
    env: launch.env,
    detached: opts.detached,
    stdio: [opts.stdin, 'pipe', 'pipe', ...extra, ...(launch.infoFd === undefined ? [] : ['pipe' as const])],
  });
  launch.fdData.forEach((data, i) => {
    const stream = child.stdio[3 + i] as Writable | null | undefined;
    stream?.on('error', () => {});
    stream?.end(data);
  });
  const info = launch.infoFd === undefined ? undefined : (child.stdio[launch.infoFd] as Readable | null);
  const initPid = info ? readInitPid(info) : Promise.resolve(undefined);
  return {
    child,
    settled: async () => {
      const pid = await initPid;
      if (pid !== undefined) await processGone(pid, SETTLE_TIMEOUT_MS);
    },
  };
}

/** bwrap writes one JSON object, `{"child-pid": <host pid of its init>, …}`. */
function readInitPid(info: Readable): Promise<number | undefined> {
  return new Promise((resolve) => {
    let text = '';
    const done = () => {
      info.destroy();
      const pid = /"child-pid"\s*:\s*(\d+)/.exec(text)?.[1];
      resolve(pid === undefined ? undefined : Number(pid));
    };
    info.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('}')) done();
    });
    info.once('end', done);
    info.once('error', done);
  });
}

/** Gone, or a zombie (it runs nothing; its parent reaps it). */
async function processGone(pid: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
      if (state === 'Z' || state === 'X') return;
    } catch {
      return;
    }
    if (Date.now() >= deadline) return;
    await delay(POLL_MS);
  }
}
