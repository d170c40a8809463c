import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A small local git repository to clone into workspaces. */
export async function createGitFixture(
  files: Record<string, string>,
): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ccl-repo-'));
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.name=Fixture', '-c', 'user.email=fixture@example.com', ...args], {
      cwd: dir,
    });
  git('init', '-q', '-b', 'main');
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  git('add', '-A');
  git('commit', '-q', '-m', 'fixture');
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
