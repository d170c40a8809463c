import { execFile } from 'node:child_process';
import { gitEnv } from './env.ts';

/**
 * Settings forced on every git call we make. The agent controls the checkout,
 * including `.git/config` and `.gitattributes`, so nothing in it may make our own
 * git calls run programs: no hooks, no fsmonitor, no external diff or textconv
 * (those run as the server, outside any approval), and no `ext::` transport.
 */
const SAFE_CONFIG = [
  '-c',
  'core.hooksPath=/dev/null',
  '-c',
  'core.fsmonitor=false',
  '-c',
  'protocol.ext.allow=never',
  '-c',
  'core.quotePath=false',
];

export interface GitOptions {
  cwd: string;
  signal?: AbortSignal;
  /** Added to the stripped environment (e.g. GIT_INDEX_FILE). */
  env?: Record<string, string>;
}

export class GitError extends Error {
  override name = 'GitError';
  constructor(
    message: string,
    readonly stderr: string,
    readonly stdout = '',
  ) {
    super(message);
  }
}

/** Hides `user:token@` in URLs so a credential in a repository URL never reaches logs or events. */
export function redactUrl(text: string): string {
  return text.replace(/(\/\/)[^/@\s]+@/g, '$1***@');
}

/** Runs git without a shell and with a stripped environment; resolves with stdout. */
export function git(args: string[], opts: GitOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      [...SAFE_CONFIG, ...args],
      {
        cwd: opts.cwd,
        env: { ...gitEnv(), ...opts.env },
        // Diffs of a busy workspace can be large; the caller decides what to keep.
        maxBuffer: 256 * 1024 * 1024,
        encoding: 'utf8',
        ...(opts.signal ? { signal: opts.signal } : {}),
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        if (opts.signal?.aborted) return reject(opts.signal.reason ?? err);
        const detail = redactUrl(stderr.trim() || err.message);
        reject(
          new GitError(
            `git ${redactUrl(args.join(' '))} failed: ${detail}`,
            redactUrl(stderr),
            redactUrl(stdout),
          ),
        );
      },
    );
  });
}
