import { lstat, readFile, stat } from 'node:fs/promises';
import type { PathGuard } from './path-guard.ts';
import { optionalString, requiredString } from './tool-input.ts';
import { looksBinary, walk } from './walk.ts';

type Input = Record<string, unknown>;

export const SEARCH_MAX_MATCHES = 200;
/** Bigger files are generated or data, not source; skipping them keeps a search fast. */
export const SEARCH_MAX_FILE_BYTES = 4 * 1024 * 1024;
const SHOWN_LINE_CHARS = 240;
/**
 * The regex comes from the model and runs on the worker's event loop; bounding
 * the text it sees per line limits how long a pathological pattern can stall it.
 */
const MATCHED_LINE_CHARS = 10_000;

/** `file:line: text` for every line matching a JS regex (or, when the pattern is not one, the literal text). */
export async function searchText(
  guard: PathGuard,
  input: Input,
  capBytes: number,
  signal: AbortSignal,
): Promise<string> {
  const pattern = requiredString(input, 'pattern');
  const loc = guard.forRead(optionalString(input, 'path') || '.');
  let regex: RegExp;
  let note = '';
  try {
    regex = new RegExp(pattern);
  } catch {
    regex = new RegExp(pattern.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&'));
    note = '(the pattern is not a valid regular expression; it was searched for literally)\n';
  }

  const st = await stat(loc.real);
  const files = st.isDirectory()
    ? walk(loc.real, loc.display, Number.POSITIVE_INFINITY, signal)
    : single(loc.real, loc.display);
  const out: string[] = [];
  let bytes = 0;
  let matches = 0;
  let skippedLarge = 0;
  let skippedLinked = 0;
  let capped = false;
  search: for await (const entry of files) {
    if (entry.kind !== 'file') continue;
    signal.throwIfAborted();
    const info = await lstat(entry.abs).catch(() => null);
    // Another name of a hard-linked file may be outside the workspace (see file-tools.ts).
    if (info && info.nlink > 1) {
      skippedLinked += 1;
      continue;
    }
    const size = info?.size ?? 0;
    if (size > SEARCH_MAX_FILE_BYTES) {
      skippedLarge += 1;
      continue;
    }
    const data = await readFile(entry.abs).catch(() => null);
    if (!data || looksBinary(data)) continue;
    const lines = data.toString('utf8').split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] ?? '').replace(/\r$/, '');
      if (!regex.test(line.length > MATCHED_LINE_CHARS ? line.slice(0, MATCHED_LINE_CHARS) : line)) continue;
      const shown = line.length > SHOWN_LINE_CHARS ? `${line.slice(0, SHOWN_LINE_CHARS)}…` : line;
      const hit = `${entry.rel}:${i + 1}: ${shown.trim()}`;
      const size = Buffer.byteLength(hit) + 1;
      if (matches >= SEARCH_MAX_MATCHES || bytes + size > capBytes) {
        capped = true;
        break search;
      }
      out.push(hit);
      bytes += size;
      matches += 1;
    }
  }
  const notes: string[] = [];
  if (capped) notes.push(`[results capped after ${matches} matches; narrow the pattern or the path]`);
  if (skippedLarge > 0)
    notes.push(`[${skippedLarge} file(s) over ${SEARCH_MAX_FILE_BYTES} bytes not searched]`);
  if (skippedLinked > 0) notes.push(`[${skippedLinked} file(s) with several hard links not searched]`);
  if (out.length === 0)
    return `${note}no matches for ${JSON.stringify(pattern)} in ${loc.display}${suffix(notes)}`;
  return `${note}${out.join('\n')}${suffix(notes)}`;
}

function suffix(notes: string[]): string {
  return notes.length > 0 ? `\n${notes.join('\n')}` : '';
}

async function* single(abs: string, rel: string) {
  yield { abs, rel, kind: 'file' as const, depth: 0 };
}
