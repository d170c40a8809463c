import { describe, expect, it } from 'vitest';
import { parseUnifiedDiff } from './diff.ts';

const DIFF = `diff --git a/hello.txt b/hello.txt
index ce01362..3b18e51 100644
--- a/hello.txt
+++ b/hello.txt
@@ -1,3 +1,3 @@
 first
-hello
+hello world
 last
diff --git a/new file.md b/new file.md
new file mode 100644
--- /dev/null
+++ b/new file.md
@@ -0,0 +1,2 @@
+# title
+body
\\ No newline at end of file
`;

describe('unified diff parsing', () => {
  it('splits files and counts added and removed lines', () => {
    const files = parseUnifiedDiff(DIFF);
    expect(files.map((f) => [f.path, f.added, f.removed])).toEqual([
      ['hello.txt', 1, 1],
      ['new file.md', 2, 0],
    ]);
  });

  it('classifies lines and numbers them in the old and new file', () => {
    const [hello] = parseUnifiedDiff(DIFF);
    const body = hello?.lines.filter((l) => l.kind !== 'meta') ?? [];
    expect(body.map((l) => [l.kind, l.oldNo, l.newNo, l.text])).toEqual([
      ['hunk', null, null, '@@ -1,3 +1,3 @@'],
      ['context', 1, 1, ' first'],
      ['del', 2, null, '-hello'],
      ['add', null, 2, '+hello world'],
      ['context', 3, 3, ' last'],
    ]);
  });

  it('keeps header lines starting with --- or +++ out of the counts', () => {
    const [, added] = parseUnifiedDiff(DIFF);
    expect(added?.lines.filter((l) => l.kind === 'meta').map((l) => l.text)).toContain('--- /dev/null');
    expect(added?.lines.at(-1)).toMatchObject({ kind: 'meta', text: '\\ No newline at end of file' });
  });

  it('reads a bare hunk without a git header, and nothing from empty input', () => {
    const files = parseUnifiedDiff('--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n');
    expect(files).toHaveLength(1);
    expect(files[0]).toMatchObject({ path: 'x', added: 1, removed: 1 });
    expect(parseUnifiedDiff('')).toEqual([]);
  });
});
