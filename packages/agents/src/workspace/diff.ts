import { copyFile, stat, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import { withShadowGit } from './shadow-git.ts';

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
 * included. Git runs in a shadow git directory (shadow-git.ts: the workspace's own
 * config, which the agent can write, is never read) and stages into a throwaway index,
 * so the agent's own index, which it may be using with `git add`, is left as it was.
 */
export async function diffAgainst(
  dir: string,
  base: string,
  signal?: AbortSignal,
): Promise<{ files: string[]; unified: string }> {
  return withShadowGit(
    dir,
    async (shadow) => {
      const index = join(shadow.gitDir, 'diff-index');
      // Starting from a copy of the real index keeps git's stat cache, so unchanged files are not
      // re-hashed. The copy keeps the index's own mtime: git re-hashes the entries not older than
      // the index ("racily clean"), and a copy dated now would hide a same-size edit made in the
      // second of the checkout.
      const real = join(dir, '.git', 'index');
      try {
        await copyFile(real, index);
        const { atime, mtime } = await stat(real);
        await utimes(index, atime, mtime);
      } catch {
        // No index yet: git builds one.
      }
      const opts = { env: { GIT_INDEX_FILE: index }, ...(signal ? { signal } : {}) };
      await shadow.run(['add', '-A', '--', '.'], opts);
      const names = await shadow.run(
        ['diff', '--cached', '--name-only', '-z', ...DIFF_FLAGS, base, '--'],
        opts,
      );
      const unified = await shadow.run(['diff', '--cached', ...DIFF_FLAGS, base, '--'], opts);
      return { files: names.split('\0').filter((n) => n.length > 0), unified };
    },
    signal,
  );
}
