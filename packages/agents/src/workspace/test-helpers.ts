import { execFileSync } from 'node:child_process';
import { mkdtempSync, realpathSync } from 'node:fs';
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
