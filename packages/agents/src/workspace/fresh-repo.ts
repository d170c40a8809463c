import { randomBytes } from 'node:crypto';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { git } from './git.ts';

// Commits made in the workspace (by us or by the agent's `git commit`) must work on
// hosts without a global git identity, and must not try to sign with the host's key.
// Appended to `.git/config` in one write rather than by a `git config` process per key; a later
// section's value wins over an earlier one, as it would with `git config`.
const LOCAL_CONFIG = [
  '[user]',
  '\tname = CoderClawLink agent',
  '\temail = agent@coderclawlink.invalid',
  '[commit]',
  '\tgpgsign = false',
  '[tag]',
  '\tgpgsign = false',
  '',
].join('\n');

/** Gives a checkout we just made (its git directory is `.git`) the workspace's local settings. */
export function addLocalConfig(dir: string): Promise<void> {
  return appendFile(join(dir, '.git', 'config'), LOCAL_CONFIG);
}

export async function headCommit(dir: string): Promise<string | null> {
  try {
    return (await git(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'], { cwd: dir })).trim() || null;
  } catch {
    return null;
  }
}

/** Commits nothing, so that a repository without commits has one to diff against. */
export async function initialCommit(dir: string, signal?: AbortSignal): Promise<string> {
  await git(['commit', '--quiet', '--allow-empty', '-m', 'Initial commit'], {
    cwd: dir,
    ...(signal ? { signal } : {}),
  });
  const base = await headCommit(dir);
  if (!base) throw new Error('could not create the initial commit of the workspace');
  return base;
}

/** One entry of a `.git` directory; a directory comes before what it holds. */
type Entry =
  | { path: string; kind: 'dir'; mode: number }
  | { path: string; kind: 'file'; mode: number; content: Buffer }
  | { path: string; kind: 'link'; target: string };

interface Snapshot {
  entries: Entry[];
  base: string;
}

/**
 * A fresh repository (`git init`, the local settings, one empty commit) made once with git, then
 * written out file by file for every workspace that starts without a repository. Running git for
 * each workspace meant three processes at least (init, commit, rev-parse), and forking a server
 * process of a few hundred MB blocks its event loop for several ms each: they were most of an
 * execution's way from submit to RUNNING. Every copy starts from the same first commit (same empty
 * tree, identity and time), which is all `diff()` needs of it. Made beside the first workspace it
 * serves, so that git probes the same file system (file modes, symlinks, case) as for its own.
 */
export class FreshRepoTemplate {
  private snapshot: Promise<Snapshot> | undefined;
  private ready: Snapshot | undefined;

  /**
   * Makes the template ready (once, in `root`, where the workspaces it serves go); resolves with the
   * first commit every copy starts from. writeSync needs it.
   */
  async prepare(root: string): Promise<string> {
    const snapshot = await this.take(root);
    this.ready = snapshot;
    return snapshot.base;
  }

  /**
   * Makes the existing, empty `dir` a fresh repository, once `prepare` has resolved. Written with
   * plain synchronous calls: a dozen small entries cost far less that way than as as many promises
   * through libuv's thread pool (measured on the bench machine: 1.7–3.0 ms of CPU on ext4 against
   * 4.7–5.3, and 0.12 ms on tmpfs against 1.1), and hold the event loop for about as long. Each
   * directory comes before what it holds.
   */
  writeSync(dir: string): void {
    if (!this.ready) throw new Error('the fresh repository template is not prepared');
    for (const entry of this.ready.entries) {
      const target = join(dir, entry.path);
      if (entry.kind === 'dir') mkdirSync(target, { mode: entry.mode });
      else if (entry.kind === 'link') symlinkSync(entry.target, target);
      else writeFileSync(target, entry.content, { mode: entry.mode });
    }
  }

  private take(root: string): Promise<Snapshot> {
    this.snapshot ??= makeSnapshot(root).catch((err: unknown) => {
      // Not kept: the next workspace tries again.
      this.snapshot = undefined;
      throw err;
    });
    return this.snapshot;
  }
}

/**
 * What git makes again itself when it needs it: reflogs, the last commit message, an index (none
 * means an empty one), the empty info folder, the tags and heads folders (the branch is in
 * `packed-refs`). Left out of every copy: each entry is a file system call per workspace, and
 * folders are the slow ones.
 */
const REMADE_BY_GIT = [
  '.git/logs',
  '.git/COMMIT_EDITMSG',
  '.git/index',
  '.git/objects/info',
  '.git/refs/heads',
  '.git/refs/tags',
];

const within = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

async function makeSnapshot(root: string): Promise<Snapshot> {
  // Not a UUID, so the workspace sweeper leaves it alone while it exists.
  const dir = join(root, `.fresh-repo-${randomBytes(6).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  try {
    // No template: git's sample hooks, description and info/exclude are half the entries and
    // nothing a workspace needs; an agent that adds a hook makes the directory itself.
    await git(['init', '--quiet', '--template=', '--initial-branch=main'], { cwd: dir });
    await addLocalConfig(dir);
    const base = await initialCommit(dir);
    // The first commit's two objects in one pack and the branch in packed-refs: four folders per
    // copy (.git, objects, objects/pack, refs) where loose ones took six (objects/<xx> for each
    // object, refs/heads). A folder costs a few times a file, and on some disks far more.
    await git(['pack-refs', '--all', '--prune'], { cwd: dir });
    await git(['repack', '-a', '-d', '-q', '-n'], { cwd: dir });
    const entries = (await readEntries(dir, '.git')).filter(
      (e) => !REMADE_BY_GIT.some((p) => within(e.path, p)),
    );
    return { base, entries };
  } finally {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  }
}

async function readEntries(root: string, path: string): Promise<Entry[]> {
  const entries: Entry[] = [{ path, kind: 'dir', mode: (await stat(join(root, path))).mode & 0o7777 }];
  for (const child of await readdir(join(root, path), { withFileTypes: true })) {
    const childPath = join(path, child.name);
    const full = join(root, childPath);
    if (child.isDirectory()) entries.push(...(await readEntries(root, childPath)));
    else if (child.isSymbolicLink())
      entries.push({ path: childPath, kind: 'link', target: await readlink(full) });
    else {
      const mode = (await stat(full)).mode & 0o7777;
      entries.push({ path: childPath, kind: 'file', mode, content: await readFile(full) });
    }
  }
  return entries;
}
