import { spawn } from 'node:child_process';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { type GitWorkspace, openWorkspace, workspaceDir } from './create-workspace.ts';

/**
 * A workspace as a gzipped tar (its files and its `.git`), for a run that parks on one machine and
 * resumes on another. Made by our own `tar -c` from the directory, so no member reaches through a
 * symbolic link (tar stores a link as a link and does not descend into it); unpacked with
 * `--no-same-owner` and without absolute names.
 */
export async function packWorkspace(dir: string, maxBytes: number): Promise<Buffer | null> {
  const child = spawn('tar', ['-C', dir, '-czf', '-', '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const parts: Buffer[] = [];
  let size = 0;
  let tooBig = false;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8').slice(0, 2000);
  });
  child.stdout.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > maxBytes) {
      tooBig = true;
      child.kill('SIGKILL');
      return;
    }
    parts.push(chunk);
  });
  const code = await exitOf(child);
  if (tooBig) return null;
  if (code !== 0) throw new Error(`tar could not pack the workspace (exit ${code}): ${stderr.trim()}`);
  return Buffer.concat(parts);
}

/**
 * Unpacks `archive` as `<root>/<executionId>` and opens it at `baseCommit`. An existing directory
 * there is replaced: it is a leftover of this run, not newer than the archive.
 */
export async function unpackWorkspace(
  root: string,
  executionId: string,
  baseCommit: string,
  archive: Buffer,
): Promise<GitWorkspace | null> {
  const dir = workspaceDir(root, executionId);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
  await mkdir(dir, { recursive: true });
  const child = spawn('tar', ['-C', dir, '-xzf', '-', '--no-same-owner'], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8').slice(0, 2000);
  });
  child.stdin.on('error', () => undefined);
  child.stdin.end(archive);
  const code = await exitOf(child);
  if (code !== 0 || (await readdir(dir)).length === 0) {
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    throw new Error(`tar could not unpack the workspace (exit ${code}): ${stderr.trim()}`);
  }
  return openWorkspace(root, executionId, baseCommit);
}

function exitOf(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve(code));
  });
}
