import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Toolbox } from './toolbox.ts';
import type { Workspace } from './types.ts';

/** A fresh directory under the OS temp dir, real path (tests compare paths). */
export function tempDir(prefix: string): string {
  return realpathSync(mkdtempSync(join(tmpdir(), `ccl-${prefix}-`)));
}

/** git for test fixtures, with an identity so commits work on bare CI machines. */
export function gitSync(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=Test', '-c', 'user.email=test@example.invalid', ...args], {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** The toolbox only needs `dir`; file-tool tests run on a plain directory. */
export function plainWorkspace(dir: string): Workspace {
  return { dir, diff: async () => ({ files: [], unified: '' }), dispose: async () => undefined };
}

let seq = 0;
export function call(toolbox: Toolbox, name: string, input: Record<string, unknown>, signal?: AbortSignal) {
  seq += 1;
  return toolbox.run({ id: `call-${seq}`, name, input }, signal ?? new AbortController().signal);
}

export function toolCall(name: string, input: Record<string, unknown>) {
  seq += 1;
  return { id: `call-${seq}`, name, input };
}

/**
 * Host pids of live (not zombie) processes whose command line contains `marker`. Sandboxed
 * commands have pids of their own namespace, so tests find their processes by what they run.
 */
export function livePidsRunning(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const state = stat.slice(stat.lastIndexOf(')') + 2)[0];
      if (cmdline.includes(marker) && state !== 'Z' && state !== 'X') pids.push(Number(name));
    } catch {
      // exited while we looked
    }
  }
  return pids;
}
