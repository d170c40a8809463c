import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitError, type ShadowGit } from '@ccl/agents';

/** Who a delivery commit names. */
export interface CommitIdentity {
  authorName: string;
  authorEmail: string;
  committerName: string;
  committerEmail: string;
}

/** A push that could not be rebased onto the branch's new head; names the conflicting files. */
export class RebaseConflict extends Error {
  override name = 'RebaseConflict';
  constructor(
    readonly branch: string,
    readonly files: string[],
  ) {
    super(
      `the ${branch} branch moved while the agent worked and its changes conflict with the new head` +
        (files.length ? ` in ${files.join(', ')}` : '') +
        '; rebase by hand or run the task again',
    );
  }
}

/**
 * One commit of the workspace's whole working tree on top of `parent`, written in the shadow git
 * directory (the workspace's config is never read; the agent's own commits are folded into it).
 */
export async function commitWorkTree(
  shadow: ShadowGit,
  parent: string,
  message: string,
  who: CommitIdentity,
  signal?: AbortSignal,
): Promise<string> {
  const env = { GIT_INDEX_FILE: `${shadow.gitDir}/delivery-index` };
  await shadow.run(['read-tree', parent], { env, ...(signal ? { signal } : {}) });
  await shadow.run(['add', '-A', '--', '.'], { env, ...(signal ? { signal } : {}) });
  const tree = (await shadow.run(['write-tree'], { env })).trim();
  return commitTree(shadow, tree, parent, message, who);
}

async function commitTree(
  shadow: ShadowGit,
  tree: string,
  parent: string,
  message: string,
  who: CommitIdentity,
) {
  const env = {
    GIT_AUTHOR_NAME: who.authorName,
    GIT_AUTHOR_EMAIL: who.authorEmail,
    GIT_COMMITTER_NAME: who.committerName,
    GIT_COMMITTER_EMAIL: who.committerEmail,
  };
  return (await shadow.run(['commit-tree', tree, '-p', parent, '-m', message], { env })).trim();
}

/** The commit `ref` of `url` points at now, fetched into the shadow (null: no such branch). */
export async function fetchBranch(
  shadow: ShadowGit,
  url: string,
  branch: string,
  auth: Record<string, string>,
  signal?: AbortSignal,
): Promise<string | null> {
  const listed = await shadow.run(['ls-remote', '--heads', '--', url, `refs/heads/${branch}`], {
    env: auth,
    ...(signal ? { signal } : {}),
  });
  const sha = listed.split(/\s/)[0];
  if (!sha) return null;
  await shadow.run(['fetch', '--quiet', '--no-tags', '--', url, `+refs/heads/${branch}:refs/remotes/base`], {
    env: auth,
    ...(signal ? { signal } : {}),
  });
  return sha;
}

/**
 * Moves `commit` (one commit on `oldParent`) onto `newParent`: a three-way merge of trees in a
 * scratch index of the shadow (`read-tree -m`), each path both sides changed merged by content
 * with `merge-file`; no work tree is touched. (`merge-tree --write-tree --merge-base` would do it in
 * one call, but needs git 2.40; Debian bookworm ships 2.39.) A conflict throws RebaseConflict.
 */
export async function rebaseCommit(
  shadow: ShadowGit,
  commit: string,
  oldParent: string,
  newParent: string,
  branch: string,
  who: CommitIdentity,
): Promise<string> {
  const scratch = await mkdtemp(join(tmpdir(), 'ccl-rebase-'));
  const env = { GIT_INDEX_FILE: join(scratch, 'index') };
  try {
    await shadow.run(['read-tree', '-m', '-i', '--aggressive', oldParent, newParent, commit], { env });
    const unmerged = await unmergedPaths(shadow, env);
    const conflicts: string[] = [];
    for (const [path, stages] of unmerged) {
      const merged = await mergeOne(shadow, scratch, stages);
      if (!merged) {
        conflicts.push(path);
        continue;
      }
      await shadow.run(['update-index', '--force-remove', '--', path], { env });
      await shadow.run(['update-index', '--add', '--cacheinfo', `${merged.mode},${merged.sha},${path}`], {
        env,
      });
    }
    if (conflicts.length) throw new RebaseConflict(branch, conflicts);
    const tree = (await shadow.run(['write-tree'], { env })).trim();
    const message = (await shadow.run(['log', '-1', '--format=%B', commit])).trimEnd();
    return await commitTree(shadow, tree, newParent, message, who);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

type Stages = Partial<Record<'1' | '2' | '3', { mode: string; sha: string }>>;

async function unmergedPaths(shadow: ShadowGit, env: Record<string, string>): Promise<Map<string, Stages>> {
  const out = await shadow.run(['ls-files', '-u', '-z'], { env });
  const paths = new Map<string, Stages>();
  for (const entry of out.split('\0')) {
    const match = /^(\d+) ([0-9a-f]+) ([123])\t(.+)$/s.exec(entry);
    if (!match) continue;
    const [, mode = '', sha = '', stage = '1', path = ''] = match;
    const stages = paths.get(path) ?? {};
    stages[stage as '1' | '2' | '3'] = { mode, sha };
    paths.set(path, stages);
  }
  return paths;
}

/** A content merge of one file both sides changed; null when it conflicts (or a side deleted it). */
async function mergeOne(shadow: ShadowGit, scratch: string, stages: Stages) {
  const { 1: base, 2: ours, 3: theirs } = stages;
  if (!base || !ours || !theirs || ours.mode !== theirs.mode) return null;
  const file = async (name: string, sha: string) => {
    const path = join(scratch, name);
    await writeFile(path, await shadow.run(['cat-file', 'blob', sha]));
    return path;
  };
  const [o, b, t] = await Promise.all([
    file('ours', ours.sha),
    file('base', base.sha),
    file('theirs', theirs.sha),
  ]);
  let merged: string;
  try {
    merged = await shadow.run(['merge-file', '-p', '--', o, b, t]);
  } catch {
    return null;
  }
  const result = join(scratch, 'merged');
  await writeFile(result, merged);
  const sha = (await shadow.run(['hash-object', '-w', '--no-filters', '--', result])).trim();
  return { mode: ours.mode, sha };
}

/** Pushes `commit` to `branch` of `url`; false when the remote refused it as not a fast-forward. */
export async function pushCommit(
  shadow: ShadowGit,
  url: string,
  commit: string,
  branch: string,
  auth: Record<string, string>,
  opts: { force?: boolean; signal?: AbortSignal } = {},
): Promise<boolean> {
  const refspec = `${opts.force ? '+' : ''}${commit}:refs/heads/${branch}`;
  try {
    await shadow.run(['push', '--quiet', '--no-verify', '--', url, refspec], {
      env: auth,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    return true;
  } catch (err) {
    if (err instanceof GitError && /non-fast-forward|fetch first|\[rejected\]/i.test(err.stderr))
      return false;
    throw err;
  }
}
