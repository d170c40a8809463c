import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface WalkEntry {
  /** Relative to the workspace, with forward slashes. */
  rel: string;
  abs: string;
  kind: 'file' | 'dir' | 'symlink' | 'other';
  /** 1 for the entries directly in the starting directory. */
  depth: number;
}

/**
 * Depth-first, name-ordered walk that never follows symlinks (a link to / would
 * otherwise walk the host) and never enters `.git` (noise, and large).
 * Unreadable directories are skipped rather than failing the whole listing.
 */
export async function* walk(
  absDir: string,
  relDir: string,
  maxDepth: number,
  signal: AbortSignal,
  depth = 1,
): AsyncGenerator<WalkEntry> {
  signal.throwIfAborted();
  let entries: Dirent[];
  try {
    entries = await readdir(absDir, { withFileTypes: true });
  } catch {
    return;
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const entry of entries) {
    if (entry.name === '.git') continue;
    const rel = relDir === '.' || relDir === '' ? entry.name : `${relDir}/${entry.name}`;
    const abs = join(absDir, entry.name);
    const kind = entry.isSymbolicLink()
      ? 'symlink'
      : entry.isDirectory()
        ? 'dir'
        : entry.isFile()
          ? 'file'
          : 'other';
    yield { rel, abs, kind, depth };
    if (kind === 'dir' && depth < maxDepth) yield* walk(abs, rel, maxDepth, signal, depth + 1);
  }
}

/** Git's own heuristic: a NUL byte near the start means binary. */
export function looksBinary(head: Uint8Array): boolean {
  return head.subarray(0, 8000).includes(0);
}
