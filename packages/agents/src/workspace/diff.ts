import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { git } from './git.ts';

/** Options that keep the output the same whatever the host's or the checkout's diff settings are. */
const DIFF_FLAGS = [
  '--no-renames',
  '--no-ext-diff',
  '--no-textconv',
  '--no-color',
  '--src-prefix=a/',
  '--dst-prefix=b/',
];

/**
 * Everything that differs between `base` and the working tree, untracked files
 * included. We stage into a throwaway index (GIT_INDEX_FILE) so the agent's own
 * index, which it may be using with `git add`, is left exactly as it was.
 */
export async function diffAgainst(
  dir: string,
  base: string,
  signal?: AbortSignal,
): Promise<{ files: string[]; unified: string }> {
  const tmp = await mkdtemp(join(tmpdir(), 'ccl-diff-'));
  const index = join(tmp, 'index');
  try {
    // Starting from a copy of the real index keeps git's stat cache, so unchanged files are not re-hashed.
    const realIndex = (await git(['rev-parse', '--git-path', 'index'], { cwd: dir })).trim();
    await copyFile(resolve(dir, realIndex), index).catch(() => undefined);
    const opts = { cwd: dir, env: { GIT_INDEX_FILE: index }, ...(signal ? { signal } : {}) };
    await git(['add', '-A', '--', '.'], opts);
    const names = await git(['diff', '--cached', '--name-only', '-z', ...DIFF_FLAGS, base, '--'], opts);
    const unified = await git(['diff', '--cached', ...DIFF_FLAGS, base, '--'], opts);
    return { files: names.split('\0').filter((n) => n.length > 0), unified };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
