import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { diffAgainst } from './diff.ts';
import { addLocalConfig, FreshRepoTemplate, headCommit, initialCommit } from './fresh-repo.ts';
import { GitError, git, redactUrl } from './git.ts';
import { checkRepoUrl, cloneUrl, gitGuardConfig, type RepoPolicy } from './repo-guard.ts';
import type { Workspace } from './types.ts';

export interface CreateWorkspaceOptions {
  /** The directory that holds all workspaces; the workspace is `<root>/<executionId>`. */
  root: string;
  executionId: string;
  /** A URL git understands, a local path, or a file:// URL. Without it the workspace is a fresh, empty repo. */
  repoUrl?: string;
  /** Branch, tag or commit to check out; the remote's default branch when absent. */
  ref?: string;
  signal?: AbortSignal;
  /** Checked before cloning and enforced on git (SSRF guard); without it any URL git understands is cloned. */
  policy?: RepoPolicy;
  /** Where a workspace without `repoUrl` is copied from; a process keeps one (without it, one is made). */
  freshRepo?: FreshRepoTemplate;
  /**
   * Added to the environment of the git calls that fetch (a credential as GIT_CONFIG_* variables):
   * it reaches those processes only, never the checkout's `.git/config`.
   */
  fetchEnv?: Record<string, string>;
}

/** A workspace that also says which commit its diff is measured against. */
export interface GitWorkspace extends Workspace {
  readonly baseCommit: string;
}

const FULL_SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/i;

/**
 * Creates `<root>/<executionId>` as a git checkout of `repoUrl` at `ref` (shallow
 * when the ref allows it), or as an empty repo with one empty commit. The commit
 * checked out at creation is the base of `diff()`. On failure nothing is left behind.
 */
export async function createWorkspace(opts: CreateWorkspaceOptions): Promise<GitWorkspace> {
  const dir = workspaceDir(opts.root, opts.executionId);
  if (opts.ref?.startsWith('-')) throw new Error(`invalid git ref: ${JSON.stringify(opts.ref)}`);
  if (!opts.repoUrl) return freshWorkspace(dir, opts.freshRepo ?? new FreshRepoTemplate());
  makeEmptyDir(dir);
  try {
    return makeWorkspace(dir, await checkOut(dir, opts.repoUrl, opts));
  } catch (err) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    throw err;
  }
}

/**
 * A workspace without a repository to start from. Its directory and fresh repository are written
 * the first time `dir` is read (by the runner, a checkpoint, a kept snapshot), so that a run whose
 * agent never touches its workspace costs no file system call for one: a dozen entries, each a
 * system call of 0.1–0.6 ms of CPU on the ext4 of the bench machine, the largest part of a run of
 * the echo agent. Until then `diff()` is empty, since nothing can have been written there.
 */
async function freshWorkspace(dir: string, template: FreshRepoTemplate): Promise<GitWorkspace> {
  // Refused now, as a checkout would be, not at the runner's first look.
  if (existsSync(dir) && readdirSync(dir).length > 0) throw notEmpty(dir);
  const base = await template.prepare(dirname(dir));
  const made = makeWorkspace(dir, base);
  let written = false;
  return {
    get dir() {
      if (!written) {
        makeEmptyDir(dir);
        try {
          template.writeSync(dir);
        } catch (err) {
          rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
          throw err;
        }
        written = true;
      }
      return dir;
    },
    baseCommit: base,
    diff: () => (written ? made.diff() : Promise.resolve({ files: [], unified: '' })),
    dispose: made.dispose,
  };
}

const notEmpty = (dir: string) => new Error(`workspace directory ${dir} already exists and is not empty`);

/**
 * Makes `dir` (and the root above it when missing), or accepts it existing empty. One system call
 * in the usual case, made synchronously as the fresh repository's entries are (fresh-repo.ts).
 */
function makeEmptyDir(dir: string): void {
  try {
    mkdirSync(dir);
    return;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      mkdirSync(dir, { recursive: true });
      return;
    }
    if (code !== 'EEXIST') throw err;
  }
  if (readdirSync(dir).length > 0) throw notEmpty(dir);
}

/** `<root>/<executionId>`; the id becomes a path segment, so anything that could climb out of the root is refused. */
export function workspaceDir(root: string, executionId: string): string {
  if (!executionId || executionId === '.' || executionId === '..' || /[/\\\0]/.test(executionId)) {
    throw new Error(`invalid execution id for a workspace directory: ${JSON.stringify(executionId)}`);
  }
  return join(resolve(root), executionId);
}

/**
 * The workspace a parked run left at `<root>/<executionId>`, to go on in; null when this machine
 * does not have it (another machine's worker parked the run, or the sweeper removed it).
 */
export async function openWorkspace(
  root: string,
  executionId: string,
  baseCommit: string,
): Promise<GitWorkspace | null> {
  const dir = workspaceDir(root, executionId);
  try {
    await stat(join(dir, '.git'));
  } catch {
    return null;
  }
  return makeWorkspace(dir, baseCommit);
}

function makeWorkspace(dir: string, baseCommit: string): GitWorkspace {
  return {
    dir,
    baseCommit,
    diff: () => diffAgainst(dir, baseCommit),
    dispose: () => rm(dir, { recursive: true, force: true, maxRetries: 3 }),
  };
}

function gitOpts(cwd: string, signal?: AbortSignal, env?: Record<string, string>) {
  return { cwd, ...(signal ? { signal } : {}), ...(env ? { env } : {}) };
}

/** Local paths are made absolute (git runs elsewhere); anything else is handed to git as is. */
function cloneSource(repoUrl: string): string {
  // A leading dash would be read as an option by git.
  if (repoUrl.startsWith('-')) throw new Error(`invalid repository URL: ${JSON.stringify(repoUrl)}`);
  return isAbsolute(repoUrl) || repoUrl.startsWith('.') ? resolve(repoUrl) : repoUrl;
}

/**
 * Clones `repoUrl` at `opts.ref` into `dir`; resolves with the commit checked out. Under a policy
 * git gets the URL as the guard normalised and checked it, never the user's own spelling.
 */
async function checkOut(dir: string, repoUrl: string, opts: CreateWorkspaceOptions): Promise<string> {
  const target = opts.policy ? await checkRepoUrl(repoUrl, opts.policy) : undefined;
  const guard = target && opts.policy ? gitGuardConfig(target, opts.policy) : [];
  const source = target?.kind === 'remote' ? cloneUrl(target) : cloneSource(repoUrl);
  try {
    await cloneInto(dir, source, opts.ref, guard, opts.signal, opts.fetchEnv);
  } catch (err) {
    // git's own words (connection refused, timed out, HTTP 404, not a git server) would tell
    // open ports from closed ones: a user learns only that the fetch failed.
    if (target?.kind !== 'remote' || opts.signal?.aborted) throw err;
    const at = opts.ref ? ` at ${JSON.stringify(opts.ref)}` : '';
    throw new Error(
      `could not fetch ${target.url}${at}: the host did not answer as a git server, or the repository or ref does not exist or needs credentials`,
      { cause: err },
    );
  }
  await addLocalConfig(dir);
  // A clone of an empty repository has no commit to diff against yet.
  return (await headCommit(dir)) ?? (await initialCommit(dir, opts.signal));
}

/** Empties the directory between clone attempts; git refuses to clone into a non-empty one. */
async function reset(dir: string) {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  await mkdir(dir, { recursive: true });
}

/**
 * Tries the cheapest checkout first: a depth-1 clone of a branch or tag; then a
 * depth-1 fetch of a full commit id (servers that allow it, which includes GitHub
 * and local repos); then a full clone, which can check out any reachable commit,
 * abbreviated ids included.
 */
async function cloneInto(
  dir: string,
  url: string,
  ref: string | undefined,
  guard: string[],
  signal?: AbortSignal,
  fetchEnv?: Record<string, string>,
) {
  const o = gitOpts(dir, signal);
  const fetching = gitOpts(dir, signal, fetchEnv);
  // Clones run from the parent: git may delete the target directory when a clone fails.
  const parent = gitOpts(dirname(dir), signal, fetchEnv);
  if (!ref) {
    await git([...guard, 'clone', '--quiet', '--depth', '1', '--', url, dir], parent);
    await forgetCredentials(dir, url);
    return;
  }
  const attempts: string[] = [];
  const tries: Array<() => Promise<void>> = [
    async () => {
      await git([...guard, 'clone', '--quiet', '--depth', '1', '--branch', ref, '--', url, dir], parent);
    },
    async () => {
      if (!FULL_SHA.test(ref)) throw new GitError('not a full commit id', '');
      await git(['init', '--quiet'], o);
      await git(['remote', 'add', 'origin', url], o);
      await git([...guard, 'fetch', '--quiet', '--depth', '1', 'origin', ref], fetching);
      await git(['checkout', '--quiet', '--detach', 'FETCH_HEAD'], o);
    },
    async () => {
      await git([...guard, 'clone', '--quiet', '--no-checkout', '--', url, dir], parent);
      await git(['checkout', '--quiet', '--detach', `${ref}^{commit}`], o);
    },
  ];
  for (const attempt of tries) {
    try {
      await attempt();
      await forgetCredentials(dir, url);
      return;
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      attempts.push(err instanceof GitError ? err.stderr.trim() : String(err));
      await reset(dir);
    }
  }
  const why = attempts.filter(Boolean).at(-1) ?? 'unknown error';
  throw new Error(`could not check out ref ${JSON.stringify(ref)} of ${redactUrl(url)}: ${why}`);
}

/** The agent can read `.git/config`, so a token embedded in an https URL must not stay there. */
async function forgetCredentials(dir: string, url: string) {
  const bare = url.replace(/^(https?:\/\/)[^/@]+@/i, '$1');
  if (bare !== url) await git(['remote', 'set-url', 'origin', bare], { cwd: dir });
}
