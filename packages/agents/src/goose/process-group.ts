import { readdir, readFile } from 'node:fs/promises';

const POLL_MS = 20;

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function errnoCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** Sends `signal` to every process in group `pgid`; a group that is already gone is not an error. */
export function signalProcessGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    if (errnoCode(err) !== 'ESRCH') throw err;
  }
}

/**
 * True while a live process is in group `pgid`.
 *
 * `kill(-pgid, 0)` alone also counts zombies: members orphaned by the kill are
 * reparented to PID 1, and in containers PID 1 may reap them only every few
 * seconds. A zombie runs nothing, so on Linux the group counts as gone once
 * only zombies are left in it.
 */
export async function processGroupAlive(pgid: number): Promise<boolean> {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return errnoCode(err) === 'EPERM';
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
          // Fields after the command name "(...)": state, ppid, pgrp, ...
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
 * Stops a whole process group: SIGTERM first so tools can clean up, SIGKILL for
 * whatever is still running after `graceMs`. Resolves once no live member is left
 * (or, if even SIGKILL could not end it, one second later).
 */
export async function terminateProcessGroup(pgid: number, graceMs: number): Promise<void> {
  signalProcessGroup(pgid, 'SIGTERM');
  if (await waitGroupGone(pgid, graceMs)) return;
  signalProcessGroup(pgid, 'SIGKILL');
  await waitGroupGone(pgid, 1000);
}
