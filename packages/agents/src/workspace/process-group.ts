import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';

export const KILL_GRACE_MS = 2000;
const POLL_MS = 25;

/** Sends a signal to every process of the group; false when the group is already gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * True while some process of the group still runs. `kill(-pgid, 0)` alone also
 * counts zombies: killed grandchildren are re-parented to PID 1, and in some
 * containers PID 1 never reaps them, so on Linux we look at /proc to ignore
 * processes that are already dead and only wait to be reaped.
 */
export function processGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return hasLiveMember(pgid) ?? true;
}

function hasLiveMember(pgid: number): boolean | undefined {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid pgrp …" — comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (Number(fields[2]) === pgid && state !== 'Z' && state !== 'X') return true;
  }
  return false;
}

/**
 * SIGTERM to the whole group (plus SIGCONT so stopped processes get it), then
 * SIGKILL to whatever is left after `graceMs`; resolves once nothing of the group runs.
 */
export async function killGroup(pgid: number, graceMs = KILL_GRACE_MS): Promise<void> {
  if (!signalGroup(pgid, 'SIGTERM')) return;
  signalGroup(pgid, 'SIGCONT');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!processGroupAlive(pgid)) return;
    await delay(POLL_MS);
  }
  signalGroup(pgid, 'SIGKILL');
  // SIGKILL cannot be ignored; this only waits for the kernel to finish the job.
  for (let i = 0; i < 40 && processGroupAlive(pgid); i++) await delay(POLL_MS);
}
