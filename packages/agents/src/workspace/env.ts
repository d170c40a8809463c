import { homedir } from 'node:os';

const FALLBACK_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The whole environment a workspace child process gets. Built from scratch rather
 * than by deleting known secrets from `process.env`, so a secret we never heard of
 * (a new provider key, a token set by the host) cannot leak either.
 */
export function minimalEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH || FALLBACK_PATH,
    HOME: process.env.HOME || homedir(),
    LANG: process.env.LANG || 'C.UTF-8',
    ...extra,
  };
}

/** For our own git calls: never prompt for credentials (a worker has no terminal to answer on). */
export function gitEnv(): Record<string, string> {
  return minimalEnv({ GIT_TERMINAL_PROMPT: '0' });
}
