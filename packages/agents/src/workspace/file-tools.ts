import { once } from 'node:events';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, readlink, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { Located, PathGuard } from './path-guard.ts';
import { optionalInt, optionalString, requiredString, ToolError } from './tool-input.ts';
import { looksBinary, walk } from './walk.ts';

type Input = Record<string, unknown>;

export const LIST_DEFAULT_DEPTH = 3;
export const LIST_MAX_ENTRIES = 1000;

export async function listFiles(guard: PathGuard, input: Input, signal: AbortSignal): Promise<string> {
  const loc = guard.forRead(optionalString(input, 'path') || '.');
  const maxDepth = Math.min(optionalInt(input, 'max_depth', 1) ?? LIST_DEFAULT_DEPTH, 50);
  const st = await stat(loc.real);
  if (!st.isDirectory()) return loc.display;
  const lines: string[] = [];
  let capped = false;
  for await (const entry of walk(loc.real, loc.display, maxDepth, signal)) {
    if (lines.length >= LIST_MAX_ENTRIES) {
      capped = true;
      break;
    }
    if (entry.kind === 'dir') lines.push(`${entry.rel}/`);
    else if (entry.kind === 'symlink')
      lines.push(`${entry.rel} -> ${await readlink(entry.abs).catch(() => '?')}`);
    else lines.push(entry.rel);
  }
  if (lines.length === 0) return `${loc.display}/ is empty`;
  if (capped) {
    lines.push(
      `[listing capped at ${LIST_MAX_ENTRIES} entries; list a subdirectory or use a smaller max_depth]`,
    );
  }
  return lines.join('\n');
}

/**
 * Numbered lines (`cat -n` style), streamed so that reading a range of a huge
 * file costs only what is shown. Stops at `capBytes` and says where to go on.
 */
export async function readFileTool(guard: PathGuard, input: Input, capBytes: number): Promise<string> {
  const loc = guard.forRead(requiredString(input, 'path'));
  const start = optionalInt(input, 'start_line', 1) ?? 1;
  const end = optionalInt(input, 'end_line', 1);
  if (end !== undefined && end < start)
    throw new ToolError(`end_line (${end}) is before start_line (${start})`);
  const st = await stat(loc.real);
  if (st.isDirectory()) throw new ToolError(`${loc.display} is a directory; use list_files`);
  const fh = await openSingleLink(loc, constants.O_RDONLY);
  try {
    return await readLines(fh, loc, st.size, { start, end, capBytes });
  } finally {
    await fh.close();
  }
}

async function readLines(
  fh: FileHandle,
  loc: Located,
  size: number,
  range: { start: number; end: number | undefined; capBytes: number },
): Promise<string> {
  const { start, end, capBytes } = range;
  const head = Buffer.alloc(8000);
  const { bytesRead } = await fh.read(head, 0, head.length, 0);
  if (looksBinary(head.subarray(0, bytesRead))) {
    throw new ToolError(`${loc.display} is a binary file (${size} bytes); not shown`);
  }
  if (size === 0) return `${loc.display} is empty`;

  const stream = fh.createReadStream({ encoding: 'utf8', start: 0, autoClose: false });
  const lines = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  const out: string[] = [];
  let bytes = 0;
  let lineNo = 0;
  let stoppedAt: number | null = null;
  try {
    for await (const line of lines) {
      lineNo += 1;
      if (lineNo < start) continue;
      if (end !== undefined && lineNo > end) break;
      const numbered = `${String(lineNo).padStart(6)}\t${line}`;
      const size = Buffer.byteLength(numbered) + 1;
      if (bytes + size > capBytes) {
        // A single enormous line (minified code) is shown in part rather than not at all.
        if (out.length === 0) {
          out.push(`${numbered.slice(0, capBytes)} [line cut]`);
          stoppedAt = lineNo + 1;
        } else {
          stoppedAt = lineNo;
        }
        break;
      }
      out.push(numbered);
      bytes += size;
    }
  } finally {
    lines.close();
    stream.destroy();
    if (!stream.closed) await once(stream, 'close').catch(() => undefined);
  }
  if (out.length === 0)
    throw new ToolError(`start_line ${start} is past the end of ${loc.display} (${lineNo} lines)`);
  if (stoppedAt !== null) {
    out.push(`[output capped at ${capBytes} bytes; continue with start_line=${stoppedAt}]`);
  }
  return out.join('\n');
}

export async function writeFileTool(guard: PathGuard, input: Input): Promise<string> {
  const loc = guard.forWrite(requiredString(input, 'path'));
  const content = requiredString(input, 'content', { allowEmpty: true });
  const existing = await stat(loc.real).catch(() => null);
  if (existing?.isDirectory()) throw new ToolError(`${loc.display} is a directory`);
  await mkdir(dirname(loc.real), { recursive: true });
  const fh = await openSingleLink(loc, constants.O_WRONLY | constants.O_CREAT);
  try {
    // Truncated only once the link count was checked: a refused file keeps its content.
    await fh.truncate(0);
    await fh.writeFile(content, 'utf8');
  } finally {
    await fh.close();
  }
  const bytes = Buffer.byteLength(content);
  return `wrote ${bytes} bytes to ${loc.display}${existing ? ' (replaced the previous content)' : ' (new file)'}`;
}

export async function editFileTool(guard: PathGuard, input: Input): Promise<string> {
  const loc = guard.forWrite(requiredString(input, 'path'));
  const oldText = requiredString(input, 'old_text');
  const newText = requiredString(input, 'new_text', { allowEmpty: true });
  const fh = await openSingleLink(loc, constants.O_RDWR);
  let text: string;
  let at: number;
  try {
    text = await fh.readFile('utf8');
    at = text.indexOf(oldText);
    if (at < 0) {
      throw new ToolError(
        `old_text was not found in ${loc.display}; read the file again and copy the text exactly (whitespace included)`,
      );
    }
    const count = countOccurrences(text, oldText);
    if (count > 1) {
      throw new ToolError(
        `old_text occurs ${count} times in ${loc.display}; include more surrounding lines so it matches exactly once`,
      );
    }
    // Slicing rather than String.replace: `$&`, `$1`… in new_text must stay literal.
    const updated = text.slice(0, at) + newText + text.slice(at + oldText.length);
    await fh.truncate(0);
    await fh.write(updated, 0, 'utf8');
  } finally {
    await fh.close();
  }
  const first = lineOf(text, at);
  const last = first + (newText.match(/\n/g)?.length ?? 0);
  return `edited ${loc.display}: replaced 1 occurrence, now lines ${first}-${last}`;
}

/**
 * Opens a file the path guard located, refusing what a path check cannot see: a final symlink
 * swapped in since (O_NOFOLLOW), something that is not a regular file, and a file with more than
 * one hard link, since another name of it may lie outside the workspace (a link to the server's
 * files, made before the run or by an unconfined command).
 */
async function openSingleLink(loc: Located, flags: number): Promise<FileHandle> {
  const fh = await open(loc.real, flags | constants.O_NOFOLLOW, 0o644);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new ToolError(`${loc.display} is not a regular file`);
    if (st.nlink > 1) {
      throw new ToolError(
        `${loc.display} has ${st.nlink} hard links, and another name of it may be outside the workspace; file tools refuse it`,
      );
    }
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

/** Counts overlapping matches too: "aa" in "aaa" is ambiguous, not unique. */
function countOccurrences(text: string, needle: string): number {
  let count = 0;
  for (let i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + 1)) count += 1;
  return count;
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < index; i = text.indexOf('\n', i + 1)) line += 1;
  return line;
}
