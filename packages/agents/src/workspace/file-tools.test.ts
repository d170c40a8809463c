import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { call, plainWorkspace, tempDir } from './test-helpers.ts';
import { createToolbox, type Toolbox } from './toolbox.ts';

let dir: string;
let outside: string;
let tb: Toolbox;

beforeEach(() => {
  dir = tempDir('tools');
  outside = tempDir('outside');
  writeFileSync(join(outside, 'secret.txt'), 'outside secret\n');
  mkdirSync(join(dir, 'src', 'deep', 'deeper'), { recursive: true });
  mkdirSync(join(dir, '.git'));
  writeFileSync(join(dir, '.git', 'config'), 'needle in git\n');
  writeFileSync(join(dir, 'README.md'), '# title\nneedle one\n');
  writeFileSync(join(dir, 'src', 'a.ts'), 'const a = 1;\nconst needle = 2;\nexport { a };\n');
  writeFileSync(join(dir, 'src', 'deep', 'deeper', 'z.ts'), 'z\n');
  writeFileSync(join(dir, 'bin.dat'), Buffer.from([0x6e, 0x65, 0x65, 0x64, 0x6c, 0x65, 0, 1, 2]));
  tb = createToolbox({ workspace: plainWorkspace(dir) });
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('specs', () => {
  it('lists the seven tools with object schemas', () => {
    expect(tb.specs.map((s) => s.name)).toEqual([
      'list_files',
      'read_file',
      'write_file',
      'edit_file',
      'search_text',
      'run_command',
      'finish',
    ]);
    for (const spec of tb.specs) expect(spec.inputSchema.type).toBe('object');
  });
});

describe('list_files', () => {
  it('lists the tree, skipping .git, with directories marked', async () => {
    const r = await call(tb, 'list_files', {});
    expect(r.isError).toBe(false);
    expect(r.output.split('\n')).toEqual([
      'README.md',
      'bin.dat',
      'src/',
      'src/a.ts',
      'src/deep/',
      'src/deep/deeper/',
    ]);
  });

  it('honours path and max_depth, and shows symlinks without following them', async () => {
    symlinkSync('/etc', join(dir, 'src', 'etc-link'));
    const r = await call(tb, 'list_files', { path: 'src', max_depth: 1 });
    expect(r.output.split('\n')).toEqual(['src/a.ts', 'src/deep/', 'src/etc-link -> /etc']);
    const deep = await call(tb, 'list_files', { path: 'src/deep', max_depth: 5 });
    expect(deep.output).toContain('src/deep/deeper/z.ts');
  });

  it('caps long listings with a note', async () => {
    mkdirSync(join(dir, 'many'));
    for (let i = 0; i < 1100; i++) writeFileSync(join(dir, 'many', `f${i}`), '');
    const r = await call(tb, 'list_files', { path: 'many' });
    const lines = r.output.split('\n');
    expect(lines).toHaveLength(1001);
    expect(lines.at(-1)).toMatch(/capped at 1000 entries/);
  });

  it('reports a missing directory as an error', async () => {
    const r = await call(tb, 'list_files', { path: 'nope' });
    expect(r).toEqual({ isError: true, output: 'list_files failed: nope: no such file or directory' });
  });
});

describe('read_file', () => {
  it('returns numbered lines', async () => {
    const r = await call(tb, 'read_file', { path: 'src/a.ts' });
    expect(r).toEqual({
      isError: false,
      output: '     1\tconst a = 1;\n     2\tconst needle = 2;\n     3\texport { a };',
    });
  });

  it('reads an inclusive 1-based range', async () => {
    const r = await call(tb, 'read_file', { path: 'src/a.ts', start_line: 2, end_line: 3 });
    expect(r.output).toBe('     2\tconst needle = 2;\n     3\texport { a };');
    const tail = await call(tb, 'read_file', { path: 'src/a.ts', start_line: '3' });
    expect(tail.output).toBe('     3\texport { a };');
  });

  it('caps the output and says where to continue', async () => {
    const big = Array.from({ length: 1000 }, (_, i) => `line ${i + 1}`).join('\n');
    writeFileSync(join(dir, 'big.txt'), big);
    const small = createToolbox({ workspace: plainWorkspace(dir), limits: { readCapBytes: 200 } });
    const r = await call(small, 'read_file', { path: 'big.txt' });
    expect(r.isError).toBe(false);
    expect(Buffer.byteLength(r.output)).toBeLessThan(300);
    const shown = r.output.split('\n').length - 1;
    expect(r.output).toContain(`[output capped at 200 bytes; continue with start_line=${shown + 1}]`);
  });

  it('explains bad ranges, directories, binaries and missing files', async () => {
    expect((await call(tb, 'read_file', { path: 'src/a.ts', start_line: 9 })).output).toBe(
      'start_line 9 is past the end of src/a.ts (3 lines)',
    );
    expect((await call(tb, 'read_file', { path: 'src/a.ts', start_line: 3, end_line: 2 })).output).toMatch(
      /end_line \(2\) is before start_line \(3\)/,
    );
    expect((await call(tb, 'read_file', { path: 'src/a.ts', start_line: 0 })).output).toMatch(/at least 1/);
    expect((await call(tb, 'read_file', { path: 'src' })).output).toBe('src is a directory; use list_files');
    expect((await call(tb, 'read_file', { path: 'bin.dat' })).output).toMatch(/binary file/);
    const missing = await call(tb, 'read_file', { path: 'missing.ts' });
    expect(missing).toEqual({
      isError: true,
      output: 'read_file failed: missing.ts: no such file or directory',
    });
    expect(await call(tb, 'read_file', {})).toEqual({
      isError: true,
      output: '"path" is required and must be a string',
    });
  });
});

describe('write_file', () => {
  it('creates parent directories and new files, and overwrites', async () => {
    const r = await call(tb, 'write_file', { path: 'new/dir/x.txt', content: 'héllo' });
    expect(r).toEqual({ isError: false, output: 'wrote 6 bytes to new/dir/x.txt (new file)' });
    expect(readFileSync(join(dir, 'new/dir/x.txt'), 'utf8')).toBe('héllo');
    const again = await call(tb, 'write_file', { path: 'new/dir/x.txt', content: '' });
    expect(again.output).toBe('wrote 0 bytes to new/dir/x.txt (replaced the previous content)');
  });

  it('refuses directories, .git and missing content', async () => {
    expect((await call(tb, 'write_file', { path: 'src', content: 'x' })).output).toBe('src is a directory');
    expect((await call(tb, 'write_file', { path: '.git/hooks/pre-commit', content: 'x' })).output).toMatch(
      /refusing to write .*\.git directory/,
    );
    expect((await call(tb, 'write_file', { path: 'x.txt' })).isError).toBe(true);
  });
});

describe('edit_file', () => {
  it('replaces one exact occurrence, keeping $ patterns literal', async () => {
    const r = await call(tb, 'edit_file', {
      path: 'src/a.ts',
      old_text: 'const needle = 2;',
      new_text: 'let $& = 3;\n// x',
    });
    expect(r).toEqual({ isError: false, output: 'edited src/a.ts: replaced 1 occurrence, now lines 2-3' });
    expect(readFileSync(join(dir, 'src/a.ts'), 'utf8')).toBe(
      'const a = 1;\nlet $& = 3;\n// x\nexport { a };\n',
    );
  });

  it('fails clearly on no match, several matches and missing files', async () => {
    const none = await call(tb, 'edit_file', {
      path: 'src/a.ts',
      old_text: 'nothing like this',
      new_text: '',
    });
    expect(none.isError).toBe(true);
    expect(none.output).toMatch(/old_text was not found in src\/a\.ts/);
    const many = await call(tb, 'edit_file', { path: 'src/a.ts', old_text: 'const', new_text: 'let' });
    expect(many).toEqual({
      isError: true,
      output:
        'old_text occurs 2 times in src/a.ts; include more surrounding lines so it matches exactly once',
    });
    writeFileSync(join(dir, 'aaa.txt'), 'aaa');
    expect((await call(tb, 'edit_file', { path: 'aaa.txt', old_text: 'aa', new_text: 'b' })).output).toMatch(
      /2 times/,
    );
    const missing = await call(tb, 'edit_file', { path: 'gone.ts', old_text: 'a', new_text: 'b' });
    expect(missing.output).toBe('edit_file failed: gone.ts: no such file or directory');
    expect((await call(tb, 'edit_file', { path: 'src/a.ts', old_text: '', new_text: 'b' })).output).toBe(
      '"old_text" must not be empty',
    );
    expect(readFileSync(join(dir, 'src/a.ts'), 'utf8')).toBe(
      'const a = 1;\nconst needle = 2;\nexport { a };\n',
    );
  });
});

describe('search_text', () => {
  it('finds regex matches as file:line: text, skipping .git and binary files', async () => {
    const r = await call(tb, 'search_text', { pattern: 'needle\\s(one|=)' });
    expect(r).toEqual({ isError: false, output: 'README.md:2: needle one\nsrc/a.ts:2: const needle = 2;' });
  });

  it('searches for an invalid regex literally, and within a path', async () => {
    writeFileSync(join(dir, 'src', 'p.ts'), 'call(a\n');
    const r = await call(tb, 'search_text', { pattern: 'call(', path: 'src' });
    expect(r.output).toBe(
      '(the pattern is not a valid regular expression; it was searched for literally)\nsrc/p.ts:1: call(a',
    );
    const one = await call(tb, 'search_text', { pattern: 'needle', path: 'README.md' });
    expect(one.output).toBe('README.md:2: needle one');
  });

  it('says when nothing matches, and caps results', async () => {
    expect((await call(tb, 'search_text', { pattern: 'zzz_nothing' })).output).toBe(
      'no matches for "zzz_nothing" in .',
    );
    writeFileSync(join(dir, 'many.txt'), 'hit\n'.repeat(500));
    const r = await call(tb, 'search_text', { pattern: 'hit', path: 'many.txt' });
    const lines = r.output.split('\n');
    expect(lines).toHaveLength(201);
    expect(lines.at(-1)).toMatch(/capped after 200 matches/);
  });
});

describe('finish and bad calls', () => {
  it('finish returns the summary', async () => {
    expect(await call(tb, 'finish', { summary: 'did it' })).toEqual({
      output: 'finished',
      isError: false,
      finished: { summary: 'did it' },
    });
  });

  it('unknown tools are errors, not exceptions', async () => {
    const r = await call(tb, 'rm_rf', {});
    expect(r.isError).toBe(true);
    expect(r.output).toMatch(/unknown tool "rm_rf"/);
  });

  it('an aborted signal rejects', async () => {
    const ac = new AbortController();
    ac.abort(new Error('stop'));
    await expect(call(tb, 'list_files', {}, ac.signal)).rejects.toThrow('stop');
  });
});

describe('path guard', () => {
  it('refuses ../ escapes, absolute paths outside and symlinks out, for every file tool', async () => {
    symlinkSync('/etc', join(dir, 'etc-link'));
    symlinkSync(outside, join(dir, 'out-link'));
    const rel = `../${outside.split('/').at(-1)}/secret.txt`;
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['read_file', { path: rel }, /climbs out of the workspace/],
      ['read_file', { path: '/etc/passwd' }, /\/etc\/passwd is outside the workspace/],
      ['read_file', { path: 'etc-link/passwd' }, /points outside the workspace through a symlink/],
      ['read_file', { path: 'out-link/secret.txt' }, /through a symlink/],
      ['read_file', { path: join(dir, 'out-link', 'secret.txt') }, /through a symlink/],
      ['list_files', { path: '..' }, /climbs out/],
      ['list_files', { path: 'etc-link' }, /through a symlink/],
      ['search_text', { pattern: 'root', path: '/etc' }, /outside the workspace/],
      ['search_text', { pattern: 'secret', path: 'out-link' }, /through a symlink/],
      ['write_file', { path: rel, content: 'x' }, /climbs out/],
      ['write_file', { path: 'out-link/new.txt', content: 'x' }, /through a symlink/],
      ['edit_file', { path: 'out-link/secret.txt', old_text: 'outside', new_text: 'x' }, /through a symlink/],
    ];
    for (const [name, input, message] of cases) {
      const r = await call(tb, name, input);
      expect(r.isError, `${name} ${JSON.stringify(input)}`).toBe(true);
      expect(r.output, `${name} ${JSON.stringify(input)}`).toMatch(message);
    }
    expect(readFileSync(join(outside, 'secret.txt'), 'utf8')).toBe('outside secret\n');
  });

  it('does not let a dangling symlink create a file outside', async () => {
    symlinkSync(join(outside, 'created.txt'), join(dir, 'dangling'));
    const r = await call(tb, 'write_file', { path: 'dangling', content: 'x' });
    expect(r.isError).toBe(true);
    expect(r.output).toMatch(/through a symlink/);
  });

  it('allows symlinks and .. that stay inside the workspace', async () => {
    symlinkSync('src', join(dir, 'src-link'));
    expect((await call(tb, 'read_file', { path: 'src-link/a.ts', end_line: 1 })).output).toBe(
      '     1\tconst a = 1;',
    );
    expect((await call(tb, 'read_file', { path: 'src/../README.md', end_line: 1 })).output).toBe(
      '     1\t# title',
    );
    expect((await call(tb, 'read_file', { path: join(dir, 'README.md'), end_line: 1 })).isError).toBe(false);
  });

  it('refuses writes and edits to an absolute path outside, leaving the file as it was', async () => {
    const target = join(outside, 'secret.txt');
    const w = await call(tb, 'write_file', { path: target, content: 'changed' });
    expect(w).toEqual({
      isError: true,
      output: `path ${target} is outside the workspace; use a path inside the workspace`,
    });
    const e = await call(tb, 'edit_file', { path: target, old_text: 'outside', new_text: 'x' });
    expect(e.isError).toBe(true);
    expect(readFileSync(target, 'utf8')).toBe('outside secret\n');
  });
});
