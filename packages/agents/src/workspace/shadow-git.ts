import { copyFile, lstat, mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { git } from './git.ts';

/**
 * Git as the server runs it on a workspace: the workspace's files and objects, but a git
 * directory of our own.
 *
 * The agent can write the workspace's `.git/config` from inside the sandbox, and git runs programs
 * that config names on ordinary commands: a `filter.<name>.clean` driver on `git add` (selected by
 * a `.gitattributes` line), `diff.<name>.textconv`, `merge.<name>.driver`, `core.sshCommand`,
 * `credential.helper`, `gpg.program` on a signed commit, and `url.<x>.insteadOf` sends a push and
 * its credential to another host. Those run as the server, outside the sandbox, and a push's
 * credential would be in their environment. `-c` can only override keys we know by name, and
 * driver names are free, so the server never reads that config at all: it works in a fresh git
 * directory whose config is git's default, with the workspace's object store as an alternate
 * (read only) and the workspace as its work tree. New objects (our commits) go to the shadow's own
 * store. Worktree `.gitattributes` still apply, but a driver they name has no definition here.
 */
export interface ShadowGit {
  readonly gitDir: string;
  readonly workTree: string;
  run(args: string[], opts?: { env?: Record<string, string>; signal?: AbortSignal }): Promise<string>;
}

/**
 * An empty git directory, as `git init --bare` makes it, minus hooks and samples, and what a
 * shadow needs: the workspace's objects as its alternate. Written directly: one `git` process
 * fewer for each diff and delivery (forking git from a server process costs several ms).
 * Git takes a directory with `HEAD`, `objects/` and `refs/` for a repository; its config is
 * git's defaults with nothing else.
 */
async function makeGitDir(gitDir: string, alternate: string): Promise<void> {
  await mkdir(join(gitDir, 'objects', 'info'), { recursive: true });
  await mkdir(join(gitDir, 'refs', 'heads'), { recursive: true });
  await writeFile(join(gitDir, 'HEAD'), 'ref: refs/heads/main\n');
  await writeFile(join(gitDir, 'config'), '[core]\n\trepositoryformatversion = 0\n\tbare = true\n');
  await writeFile(join(gitDir, 'objects', 'info', 'alternates'), `${alternate}\n`);
}

export async function withShadowGit<T>(
  workTree: string,
  fn: (shadow: ShadowGit) => Promise<T>,
  signal?: AbortSignal,
): Promise<T> {
  const dotGit = join(workTree, '.git');
  const info = await lstat(dotGit).catch(() => null);
  if (!info?.isDirectory()) throw new Error(`the workspace's .git is not a directory: ${dotGit}`);
  const objects = await realpath(join(dotGit, 'objects'));
  const tmp = await mkdtemp(join(tmpdir(), 'ccl-git-'));
  const gitDir = join(tmp, 'git');
  try {
    await makeGitDir(gitDir, objects);
    // A depth-1 clone's history ends at its commit: the shadow must know where, or a push walks on.
    await copyFile(join(dotGit, 'shallow'), join(gitDir, 'shallow')).catch(() => undefined);
    const shadow: ShadowGit = {
      gitDir,
      workTree,
      run: (args, opts = {}) =>
        git(['--git-dir', gitDir, '--work-tree', workTree, '-c', 'core.bare=false', ...args], {
          cwd: workTree,
          ...(opts.env ? { env: opts.env } : {}),
          ...((opts.signal ?? signal) ? { signal: opts.signal ?? signal } : {}),
        }),
    };
    return await fn(shadow);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}
