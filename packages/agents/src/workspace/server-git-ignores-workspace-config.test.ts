import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diffAgainst } from './diff.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sh = (cwd: string, ...args: string[]) =>
  execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1' },
  }).trim();

describe("the server's own git calls on a workspace", () => {
  it("never run a program the agent named in the workspace's .git/config (filter, textconv)", async () => {
    const ws = mkdtempSync(join(tmpdir(), 'ccl-ws-'));
    const marker = join(mkdtempSync(join(tmpdir(), 'ccl-marker-')), 'ran');
    dirs.push(ws, join(marker, '..'));
    sh(ws, 'init', '-q', '.');
    sh(ws, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '--allow-empty', '-m', 'base');
    const base = sh(ws, 'rev-parse', 'HEAD');
    // What an agent could write from inside the sandbox.
    sh(ws, 'config', 'filter.x.clean', `sh -c "touch ${marker}; cat"`);
    sh(ws, 'config', 'diff.x.textconv', `sh -c "touch ${marker}; cat"`);
    writeFileSync(join(ws, '.gitattributes'), '* filter=x diff=x\n');
    writeFileSync(join(ws, 'a.txt'), 'hello\n');

    const diff = await diffAgainst(ws, base);
    expect(diff.files.sort()).toEqual(['.gitattributes', 'a.txt']);
    expect(diff.unified).toContain('+hello');
    expect(existsSync(marker)).toBe(false);
    // The agent's own index is untouched.
    expect(sh(ws, 'status', '--porcelain')).toContain('?? a.txt');
  });
});

describe('the diff of a workspace', () => {
  it('sees a same-size edit made in the second the checkout was written', async () => {
    const ws = mkdtempSync(join(tmpdir(), 'ccl-ws-'));
    dirs.push(ws);
    sh(ws, 'init', '-q', '.');
    writeFileSync(join(ws, 'FOOTER.md'), 'footer\n');
    sh(ws, 'add', 'FOOTER.md');
    sh(ws, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'base');
    const base = sh(ws, 'rev-parse', 'HEAD');
    const checkedOut = statSync(join(ws, 'FOOTER.md'));
    // The agent's edit: same size, and (as within one second on a filesystem git reads to the
    // second) the same mtime as the index recorded; the diff is taken later.
    writeFileSync(join(ws, 'FOOTER.md'), 'Footer\n');
    utimesSync(join(ws, 'FOOTER.md'), checkedOut.atime, checkedOut.mtime);
    utimesSync(join(ws, '.git', 'index'), checkedOut.atime, checkedOut.mtime);
    await new Promise((r) => setTimeout(r, 1100));
    const diff = await diffAgainst(ws, base);
    expect(diff.files).toEqual(['FOOTER.md']);
    expect(diff.unified).toContain('+Footer');
  });
});
