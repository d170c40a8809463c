import { mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plainWorkspace, tempDir, toolCall } from './test-helpers.ts';
import { createToolbox } from './toolbox.ts';

let dir: string;
beforeAll(() => {
  dir = tempDir('approval');
  mkdirSync(join(dir, 'src'));
  symlinkSync('/etc', join(dir, 'etc-link'));
  symlinkSync('src', join(dir, 'src-link'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('needsApproval', () => {
  it('asks for every run_command only in "commands" mode', () => {
    const strict = createToolbox({ workspace: plainWorkspace(dir), approval: 'commands' });
    const lax = createToolbox({ workspace: plainWorkspace(dir), approval: 'none' });
    const byDefault = createToolbox({ workspace: plainWorkspace(dir) });
    const cmd = toolCall('run_command', { command: 'ls' });
    expect(strict.needsApproval(cmd)).toBe(true);
    expect(lax.needsApproval(cmd)).toBe(false);
    expect(byDefault.needsApproval(cmd)).toBe(false);
  });

  it('never asks for writes and edits, even outside the workspace: run() refuses those instead', () => {
    for (const approval of ['none', 'commands'] as const) {
      const tb = createToolbox({ workspace: plainWorkspace(dir), approval });
      for (const name of ['write_file', 'edit_file']) {
        const needs = (path: unknown) =>
          tb.needsApproval(toolCall(name, { path, content: '', old_text: 'a', new_text: 'b' }));
        for (const path of ['/tmp/elsewhere.txt', '../x', 'etc-link/hosts', 'src/a.ts', undefined]) {
          expect(needs(path), String(path)).toBe(false);
        }
      }
    }
  });

  it('never asks for reads, searches, listings or finish (outside reads are refused instead)', () => {
    const tb = createToolbox({ workspace: plainWorkspace(dir), approval: 'commands' });
    expect(tb.needsApproval(toolCall('read_file', { path: '/etc/passwd' }))).toBe(false);
    expect(tb.needsApproval(toolCall('list_files', { path: '..' }))).toBe(false);
    expect(tb.needsApproval(toolCall('search_text', { pattern: 'x', path: '/etc' }))).toBe(false);
    expect(tb.needsApproval(toolCall('finish', { summary: 'x' }))).toBe(false);
  });
});
