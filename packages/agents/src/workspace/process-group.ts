import { readdir, readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

/*
 * Process groups of the commands the tool loop runs (run_command) and of goose: both are
 * spawned detached, so the group id is the child's pid, and stopping the group also stops
 * the shells and tools they started.
 */

export const KILL_GRACE_MS = 2000;
const POLL_MS = 20;

/** Sends `signal` to every process of the group; false when the group is already gone. */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * True while a live process is in group `pgid`.
 *
 * `kill(-pgid, 0)` alone also counts zombies: members orphaned by the kill are
 * reparented to PID 1, and in containers PID 1 may reap them late or never. A zombie
 * runs nothing, so on Linux the group counts as gone once only zombies are left in it.
 */
export async function processGroupAlive(pgid: number): Promise<boolean> {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  if (process.platform !== 'linux') return true;
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return true;
  }
  const states = await Promise.all(
    entries
      .filter((name) => /^\d+$/.test(name))
      .map(async (name) => {
        try {
          const stat = await readFile(`/proc/${name}/stat`, 'utf8');
          // "pid (comm) state ppid pgrp …" — comm may contain spaces and parentheses.
          const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
          return Number(fields[2]) === pgid ? fields[0] : undefined;
        } catch {
          return undefined; // exited while we looked
        }
      }),
  );
  return states.some((state) => state !== undefined && state !== 'Z' && state !== 'X');
}

async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!(await processGroupAlive(pgid))) return true;
    if (Date.now() >= deadline) return false;
    await delay(POLL_MS);
  }
}

/**
 * Stops a whole process group: SIGTERM (plus SIGCONT, so stopped members get it) so tools
 * can clean up, SIGKILL for whatever still runs after `graceMs`. Resolves once no live
 * member is left (or, if even SIGKILL could not end it, one second later).
 */
export async function terminateProcessGroup(pgid: number, graceMs = KILL_GRACE_MS): Promise<void> {
  if (!signalProcessGroup(pgid, 'SIGTERM')) return;
  signalProcessGroup(pgid, 'SIGCONT');
  if (await waitGroupGone(pgid, graceMs)) return;
  signalProcessGroup(pgid, 'SIGKILL');
  await waitGroupGone(pgid, 1000);
}
