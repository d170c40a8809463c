import { existsSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWorkspace, type GitWorkspace } from './create-workspace.ts';
import { FreshRepoTemplate } from './fresh-repo.ts';
import { gitSync, tempDir } from './test-helpers.ts';

let origin: string;
let root: string;
let first: string;
let second: string;
let n = 0;
const nextId = () => `exec-${++n}`;

beforeAll(() => {
  root = tempDir('ws-root');
  origin = tempDir('origin');
  gitSync(origin, 'init', '--quiet', '--initial-branch=main');
  writeFileSync(join(origin, 'a.txt'), 'one\n');
  writeFileSync(join(origin, 'keep.txt'), 'keep\n');
  gitSync(origin, 'add', '-A');
  gitSync(origin, 'commit', '--quiet', '-m', 'first');
  first = gitSync(origin, 'rev-parse', 'HEAD');
  gitSync(origin, 'tag', 'v1');
  writeFileSync(join(origin, 'a.txt'), 'two\n');
  gitSync(origin, 'commit', '--quiet', '-am', 'second');
  second = gitSync(origin, 'rev-parse', 'HEAD');
  gitSync(origin, 'checkout', '--quiet', '-b', 'feature');
  writeFileSync(join(origin, 'b.txt'), 'feature\n');
  gitSync(origin, 'add', '-A');
  gitSync(origin, 'commit', '--quiet', '-m', 'feature');
  gitSync(origin, 'checkout', '--quiet', 'main');
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(origin, { recursive: true, force: true });
});

describe('createWorkspace', () => {
  it('holds git to the repository policy', async () => {
    const refused = nextId();
    await expect(
      createWorkspace({
        root,
        executionId: refused,
        repoUrl: origin,
        policy: { allowLocal: false, allowPrivate: [] },
      }),
    ).rejects.toThrow(/local repository paths are not allowed/);
    expect(existsSync(join(root, refused))).toBe(false);
    // Allowed, the guard's git settings still let each checkout strategy work (branch, full id, any id).
    const policy = { allowLocal: true, allowPrivate: [] };
    for (const ref of ['v1', first, first.slice(0, 8)]) {
      const ws = await createWorkspace({ root, executionId: nextId(), repoUrl: origin, ref, policy });
      expect(readFileSync(join(ws.dir, 'a.txt'), 'utf8')).toBe('one\n');
      await ws.dispose();
    }
  });

  it('clones a local path at the default branch', async () => {
    const ws = await createWorkspace({ root, executionId: nextId(), repoUrl: origin });
    expect(ws.dir).toBe(join(root, `exec-${n}`));
    expect(readFileSync(join(ws.dir, 'a.txt'), 'utf8')).toBe('two\n');
    expect(ws.baseCommit).toBe(second);
    expect(await ws.diff()).toEqual({ files: [], unified: '' });
    await ws.dispose();
    expect(existsSync(ws.dir)).toBe(false);
  });

  it('clones a file:// URL at a tag, shallow', async () => {
    const ws = await createWorkspace({
      root,
      executionId: nextId(),
      repoUrl: pathToFileURL(origin).href,
      ref: 'v1',
    });
    expect(readFileSync(join(ws.dir, 'a.txt'), 'utf8')).toBe('one\n');
    expect(gitSync(ws.dir, 'rev-parse', '--is-shallow-repository')).toBe('true');
    expect(ws.baseCommit).toBe(first);
  });

  it('clones at a branch', async () => {
    const ws = await createWorkspace({ root, executionId: nextId(), repoUrl: origin, ref: 'feature' });
    expect(readFileSync(join(ws.dir, 'b.txt'), 'utf8')).toBe('feature\n');
  });

  it('clones at a full commit id (file://) and at an abbreviated one (local path)', async () => {
    const full = await createWorkspace({
      root,
      executionId: nextId(),
      repoUrl: pathToFileURL(origin).href,
      ref: first,
    });
    expect(full.baseCommit).toBe(first);
    expect(gitSync(full.dir, 'rev-parse', '--is-shallow-repository')).toBe('true');
    expect(readFileSync(join(full.dir, 'a.txt'), 'utf8')).toBe('one\n');
    const short = await createWorkspace({
      root,
      executionId: nextId(),
      repoUrl: origin,
      ref: first.slice(0, 8),
    });
    expect(short.baseCommit).toBe(first);
  });

  it('fails clearly on an unknown ref and leaves nothing behind', async () => {
    const id = nextId();
    await expect(
      createWorkspace({ root, executionId: id, repoUrl: origin, ref: 'no-such-ref' }),
    ).rejects.toThrow(/could not check out ref "no-such-ref"/);
    expect(existsSync(join(root, id))).toBe(false);
  });

  it('fails clearly on a missing repository', async () => {
    await expect(
      createWorkspace({ root, executionId: nextId(), repoUrl: join(root, 'nope') }),
    ).rejects.toThrow(/git clone .* failed/);
  });

  it('refuses an execution id that would leave the root, and a non-empty directory', async () => {
    await expect(createWorkspace({ root, executionId: '../x' })).rejects.toThrow(/invalid execution id/);
    const id = nextId();
    await mkdir(join(root, id, 'junk'), { recursive: true });
    await expect(createWorkspace({ root, executionId: id })).rejects.toThrow(/not empty/);
  });

  it('initialises an empty repo with one empty commit and a local identity', async () => {
    const ws = await createWorkspace({ root: join(root, 'nested', 'root'), executionId: nextId() });
    expect(gitSync(ws.dir, 'rev-list', '--count', 'HEAD')).toBe('1');
    expect(gitSync(ws.dir, 'ls-files')).toBe('');
    expect(gitSync(ws.dir, 'config', '--local', 'user.email')).toMatch(/@/);
    expect(ws.baseCommit).toBe(gitSync(ws.dir, 'rev-parse', 'HEAD'));
    expect(await ws.diff()).toEqual({ files: [], unified: '' });
  });

  it('writes a fresh workspace out only when its directory is first read', async () => {
    const freshRoot = tempDir('ws-lazy');
    const freshRepo = new FreshRepoTemplate();
    const id = nextId();
    const ws = await createWorkspace({ root: freshRoot, executionId: id, freshRepo });
    // Nothing of it on disk yet (only the root, which the template was made in and left): a run
    // whose agent never looks costs no file system call, and its diff is empty.
    expect(existsSync(join(freshRoot, id))).toBe(false);
    expect(await ws.diff()).toEqual({ files: [], unified: '' });
    expect(existsSync(join(freshRoot, id))).toBe(false);
    await ws.dispose();
    // Read once, it is a repository at the base commit, and stays the same directory.
    const dir = ws.dir;
    expect(dir).toBe(join(freshRoot, id));
    expect(gitSync(dir, 'rev-parse', 'HEAD')).toBe(ws.baseCommit);
    writeFileSync(join(ws.dir, 'x.txt'), 'x\n');
    expect((await ws.diff()).files).toEqual(['x.txt']);
    await ws.dispose();
    expect(existsSync(dir)).toBe(false);
    rmSync(freshRoot, { recursive: true, force: true });
  });

  it('makes later fresh repos from its template without running git, each a repo of its own', async () => {
    const freshRoot = tempDir('ws-fresh');
    const freshRepo = new FreshRepoTemplate();
    const made = await createWorkspace({ root: freshRoot, executionId: nextId(), freshRepo });
    // With git out of reach, only the template can make the next one (git per workspace cost ~25 ms).
    const path = process.env.PATH;
    process.env.PATH = tempDir('no-git');
    let copy: GitWorkspace;
    try {
      copy = await createWorkspace({ root: freshRoot, executionId: nextId(), freshRepo });
    } finally {
      process.env.PATH = path;
    }
    expect(copy.baseCommit).toBe(made.baseCommit);
    // Four folders per copy: the first commit is one pack, its branch a line of packed-refs.
    const folders = readdirSync(join(copy.dir, '.git'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => relative(join(copy.dir, '.git'), join(e.parentPath, e.name)))
      .sort();
    expect(folders).toEqual(['objects', 'objects/pack', 'refs']);
    expect(gitSync(copy.dir, 'branch', '--show-current')).toBe('main');
    expect(gitSync(copy.dir, 'rev-parse', 'main')).toBe(made.baseCommit);
    expect(gitSync(copy.dir, 'fsck', '--strict', '--no-progress')).toBe('');
    expect(gitSync(copy.dir, 'log', '--format=%an <%ae> %s')).toBe(
      'CoderClawLink agent <agent@coderclawlink.invalid> Initial commit',
    );
    expect(gitSync(copy.dir, 'config', '--local', 'user.email')).toBe('agent@coderclawlink.invalid');
    writeFileSync(join(copy.dir, 'x.txt'), 'x\n');
    gitSync(copy.dir, 'add', '-A');
    gitSync(copy.dir, 'commit', '--quiet', '-m', 'agent work');
    expect(gitSync(made.dir, 'rev-list', '--count', 'HEAD')).toBe('1');
    expect(await made.diff()).toEqual({ files: [], unified: '' });
    expect((await copy.diff()).files).toEqual(['x.txt']);
    // The repository the template was made in is gone; only the two workspaces remain.
    expect(readdirSync(freshRoot).sort()).toEqual([`exec-${n - 1}`, `exec-${n}`]);
    rmSync(freshRoot, { recursive: true, force: true });
  });

  it('diff() shows writes, edits, deletions and new untracked files, and leaves the index alone', async () => {
    const ws = await createWorkspace({ root, executionId: nextId(), repoUrl: origin });
    writeFileSync(join(ws.dir, 'a.txt'), 'two\nthree\n');
    unlinkSync(join(ws.dir, 'keep.txt'));
    await mkdir(join(ws.dir, 'src'));
    writeFileSync(join(ws.dir, 'src', 'new file.ts'), 'export const x = 1;\n');
    const before = gitSync(ws.dir, 'status', '--porcelain');

    const { files, unified } = await ws.diff();
    expect(files).toEqual(['a.txt', 'keep.txt', 'src/new file.ts']);
    expect(unified).toContain('--- a/a.txt\n+++ b/a.txt\n@@ -1 +1,2 @@\n two\n+three\n');
    expect(unified).toContain('deleted file mode 100644');
    expect(unified).toContain('-keep');
    expect(unified).toContain('+++ b/src/new file.ts');
    expect(unified).toContain('+export const x = 1;');
    // The agent's own index is untouched: the new file is still untracked.
    expect(gitSync(ws.dir, 'status', '--porcelain')).toBe(before);
    expect(before).toContain('?? src/');
  });

  it('diff() is still against the starting commit after the agent commits', async () => {
    const ws = await createWorkspace({ root, executionId: nextId() });
    writeFileSync(join(ws.dir, 'hello.txt'), 'hi\n');
    gitSync(ws.dir, 'add', '-A');
    gitSync(ws.dir, 'commit', '--quiet', '-m', 'agent work');
    const { files, unified } = await ws.diff();
    expect(files).toEqual(['hello.txt']);
    expect(unified).toContain('new file mode 100644');
  });
});
