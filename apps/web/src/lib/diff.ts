export type DiffLineKind = 'add' | 'del' | 'context' | 'hunk' | 'meta';

export interface DiffLine {
  kind: DiffLineKind;
  text: string;
  /** Line numbers in the old and new file (null where the line does not exist). */
  oldNo: number | null;
  newNo: number | null;
}

export interface DiffFile {
  path: string;
  added: number;
  removed: number;
  lines: DiffLine[];
}

const HUNK = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/;

function pathOf(header: string): string {
  // "diff --git a/x b/x" → "x"; paths with spaces keep working since b/ is the last part.
  const m = /^diff --git a\/(.*) b\/(.*)$/.exec(header);
  return m?.[2] ?? header.replace(/^diff --git /, '');
}

/** Splits a unified diff (git format) into files with numbered, classified lines. */
export function parseUnifiedDiff(text: string): DiffFile[] {
  const files: DiffFile[] = [];
  if (text.trim() === '') return files;
  let file: DiffFile | null = null;
  let oldNo = 0;
  let newNo = 0;
  let inHunk = false;
  const start = (path: string) => {
    file = { path, added: 0, removed: 0, lines: [] };
    files.push(file);
    inHunk = false;
    return file;
  };
  for (const raw of text.replace(/\n$/, '').split('\n')) {
    if (raw.startsWith('diff --git ')) {
      start(pathOf(raw)).lines.push({ kind: 'meta', text: raw, oldNo: null, newNo: null });
      continue;
    }
    const current: DiffFile = file ?? start('(changes)');
    const hunk = HUNK.exec(raw);
    if (hunk) {
      oldNo = Number(hunk[1]);
      newNo = Number(hunk[2]);
      inHunk = true;
      current.lines.push({ kind: 'hunk', text: raw, oldNo: null, newNo: null });
    } else if (!inHunk) {
      const plus = /^\+\+\+ b\/(.*)$/.exec(raw);
      if (plus?.[1] && current.path === '(changes)') current.path = plus[1];
      current.lines.push({ kind: 'meta', text: raw, oldNo: null, newNo: null });
    } else if (raw.startsWith('+')) {
      current.added++;
      current.lines.push({ kind: 'add', text: raw, oldNo: null, newNo: newNo++ });
    } else if (raw.startsWith('-')) {
      current.removed++;
      current.lines.push({ kind: 'del', text: raw, oldNo: oldNo++, newNo: null });
    } else if (raw.startsWith('\\')) {
      current.lines.push({ kind: 'meta', text: raw, oldNo: null, newNo: null });
    } else {
      current.lines.push({ kind: 'context', text: raw, oldNo: oldNo++, newNo: newNo++ });
    }
  }
  return files;
}
