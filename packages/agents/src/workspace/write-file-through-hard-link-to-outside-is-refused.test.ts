import { linkSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { call, plainWorkspace, tempDir } from './test-helpers.ts';
import { createToolbox, type Toolbox } from './toolbox.ts';

/*
 * Issue 17: a hard link inside the workspace to a file outside let write_file change that
 * file without approval. A path check cannot see a hard link; the link count can.
 */
let dir: string;
let outside: string;
let tb: Toolbox;

beforeEach(() => {
  dir = tempDir('hardlink');
  outside = tempDir('hardlink-outside');
  writeFileSync(join(outside, 'server.key'), 'server secret\n');
  linkSync(join(outside, 'server.key'), join(dir, 'innocent.txt'));
  tb = createToolbox({ workspace: plainWorkspace(dir) });
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('a hard link in the workspace to a file outside', () => {
  it('write_file through it is refused and the outside file is unchanged', async () => {
    const r = await call(tb, 'write_file', { path: 'innocent.txt', content: 'pwned\n' });
    expect(r).toEqual({
      isError: true,
      output:
        'innocent.txt has 2 hard links, and another name of it may be outside the workspace; file tools refuse it',
    });
    expect(readFileSync(join(outside, 'server.key'), 'utf8')).toBe('server secret\n');
  });

  it('edit_file, read_file and search_text refuse or skip it too', async () => {
    const e = await call(tb, 'edit_file', { path: 'innocent.txt', old_text: 'server', new_text: 'x' });
    expect(e.isError).toBe(true);
    expect(e.output).toMatch(/has 2 hard links/);
    const r = await call(tb, 'read_file', { path: 'innocent.txt' });
    expect(r.isError).toBe(true);
    expect(r.output).not.toContain('server secret');
    const s = await call(tb, 'search_text', { pattern: 'secret' });
    expect(s.output).toBe('no matches for "secret" in .\n[1 file(s) with several hard links not searched]');
    expect(readFileSync(join(outside, 'server.key'), 'utf8')).toBe('server secret\n');
  });

  it('an ordinary file is still written, edited and read', async () => {
    expect((await call(tb, 'write_file', { path: 'plain.txt', content: 'one two\n' })).isError).toBe(false);
    expect(
      (await call(tb, 'edit_file', { path: 'plain.txt', old_text: 'two', new_text: 'three' })).isError,
    ).toBe(false);
    expect((await call(tb, 'read_file', { path: 'plain.txt' })).output).toBe('     1\tone three');
    expect((await call(tb, 'write_file', { path: 'plain.txt', content: 'x' })).output).toBe(
      'wrote 1 bytes to plain.txt (replaced the previous content)',
    );
    expect(readFileSync(join(dir, 'plain.txt'), 'utf8')).toBe('x');
  });
});
