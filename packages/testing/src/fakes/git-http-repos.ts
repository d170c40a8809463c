import { spawn } from 'node:child_process';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** The identity the fake's own commits carry ("the base moved", the initial commit). */
export const FAKE_GIT_AUTHOR = { name: 'Fake GitHub', email: 'noreply@github.test' };

export interface GitLogEntry {
  sha: string;
  subject: string;
  body: string;
  authorName: string;
  authorEmail: string;
}

/**
 * An environment that ignores the machine's git configuration: no system config,
 * an empty HOME, no prompts, fixed identity. Tests then behave the same on any box.
 */
export function cleanGitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    LANG: 'C',
    GIT_AUTHOR_NAME: FAKE_GIT_AUTHOR.name,
    GIT_AUTHOR_EMAIL: FAKE_GIT_AUTHOR.email,
    GIT_COMMITTER_NAME: FAKE_GIT_AUTHOR.name,
    GIT_COMMITTER_EMAIL: FAKE_GIT_AUTHOR.email,
  };
}

export class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly code: number | null,
    readonly stderr: string,
  ) {
    super(`git ${args.join(' ')} exited ${code}: ${stderr.trim()}`);
  }
}

/** Runs git against one bare repository; `input` goes to stdin (execFile cannot feed stdin). */
export function runGit(
  env: NodeJS.ProcessEnv,
  gitDir: string,
  args: string[],
  opts: { input?: string; extraEnv?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('git', args, {
      env: { ...env, ...opts.extraEnv, GIT_DIR: gitDir },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
      else reject(new GitCommandError(args, code, Buffer.concat(err).toString('utf8')));
    });
    if (opts.input !== undefined) {
      // A failing command may exit before reading; its exit code says what went wrong.
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
  });
}

/** `owner/name` → `<root>/owner/name.git`, refusing anything that could leave the root. */
export function repoDir(root: string, fullName: string): string {
  const parts = fullName.split('/');
  const valid = parts.length === 2 && parts.every((p) => /^[A-Za-z0-9_.-]+$/.test(p) && !p.startsWith('.'));
  if (!valid) throw new Error(`fake git: bad repository name ${JSON.stringify(fullName)}`);
  return join(root, `${fullName}.git`);
}

/**
 * Writes one commit straight into a bare repository with plumbing (a private index
 * file, no work tree), so the fake never needs a checkout. `null` deletes a path.
 */
export async function writeCommit(
  env: NodeJS.ProcessEnv,
  gitDir: string,
  branch: string,
  files: Record<string, string | null>,
  message: string,
  scratch: string,
): Promise<string> {
  const ref = `refs/heads/${branch}`;
  const parent = await runGit(env, gitDir, ['rev-parse', '--verify', '-q', ref]).then(
    (sha) => sha.trim(),
    () => null,
  );
  await mkdir(scratch, { recursive: true });
  const index = join(scratch, `index-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const withIndex = { extraEnv: { GIT_INDEX_FILE: index } };
  try {
    if (parent) await runGit(env, gitDir, ['read-tree', parent], withIndex);
    // `--index-info` edits the index without a work tree; mode 0 removes the path.
    const lines: string[] = [];
    for (const [path, content] of Object.entries(files)) {
      if (content === null) {
        lines.push(`0 ${'0'.repeat(40)}\t${path}`);
        continue;
      }
      const blob = (await runGit(env, gitDir, ['hash-object', '-w', '--stdin'], { input: content })).trim();
      lines.push(`100644 ${blob}\t${path}`);
    }
    await runGit(env, gitDir, ['update-index', '--index-info'], {
      ...withIndex,
      input: `${lines.join('\n')}\n`,
    });
    const tree = (await runGit(env, gitDir, ['write-tree'], withIndex)).trim();
    const parentArgs = parent ? ['-p', parent] : [];
    const sha = (await runGit(env, gitDir, ['commit-tree', tree, ...parentArgs], { input: message })).trim();
    // The old value makes this a compare-and-swap, so a racing push is not silently lost.
    await runGit(env, gitDir, ['update-ref', ref, sha, parent ?? '']);
    return sha;
  } finally {
    await rm(index, { force: true });
  }
}

export async function readGitFile(
  env: NodeJS.ProcessEnv,
  gitDir: string,
  ref: string,
  path: string,
): Promise<string | null> {
  try {
    return await runGit(env, gitDir, ['cat-file', 'blob', `${ref}:${path}`]);
  } catch (error) {
    if (error instanceof GitCommandError) return null;
    throw error;
  }
}

// Unit and record separators cannot appear in commit text that git accepts from us.
const FIELD = '\x1f';
const RECORD = '\x1e';

export async function gitLog(env: NodeJS.ProcessEnv, gitDir: string, ref: string): Promise<GitLogEntry[]> {
  const format = ['%H', '%s', '%b', '%an', '%ae'].join('%x1f');
  const out = await runGit(env, gitDir, ['log', `--format=${format}%x1e`, ref, '--']);
  return out
    .split(RECORD)
    .map((record) => record.replace(/^\n/, ''))
    .filter((record) => record.length > 0)
    .map((record) => {
      const [sha = '', subject = '', body = '', authorName = '', authorEmail = ''] = record.split(FIELD);
      return { sha, subject, body: body.replace(/\n+$/, ''), authorName, authorEmail };
    });
}

export async function gitBranches(env: NodeJS.ProcessEnv, gitDir: string): Promise<Record<string, string>> {
  const out = await runGit(env, gitDir, ['for-each-ref', '--format=%(refname) %(objectname)', 'refs/heads/']);
  const branches: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const [ref, sha] = line.split(' ');
    if (ref && sha) branches[ref.slice('refs/heads/'.length)] = sha;
  }
  return branches;
}

export async function gitConfig(env: NodeJS.ProcessEnv, gitDir: string): Promise<Record<string, string>> {
  const out = await runGit(env, gitDir, ['config', '--local', '--list']);
  const config: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const at = line.indexOf('=');
    if (at > 0) config[line.slice(0, at)] = line.slice(at + 1);
  }
  return config;
}
