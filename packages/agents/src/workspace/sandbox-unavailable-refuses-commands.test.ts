import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox } from './sandbox.ts';
import { call, plainWorkspace, tempDir } from './test-helpers.ts';
import { createToolbox } from './toolbox.ts';

let dir: string;
beforeAll(() => {
  dir = tempDir('nosandbox');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('where the sandbox cannot start', () => {
  it('refuses every command, naming why, when bubblewrap is not installed', async () => {
    const sandbox = createSandbox({ enabled: true, bwrapPaths: ['/nonexistent/bwrap'] });
    expect(await sandbox.status()).toEqual({
      state: 'unavailable',
      reason: 'bubblewrap (bwrap) is not installed at /nonexistent/bwrap',
    });
    const tb = createToolbox({ workspace: plainWorkspace(dir), sandbox });
    const r = await call(tb, 'run_command', { command: 'touch ran' });
    expect(r.isError).toBe(true);
    expect(r.output).toMatch(/^refused: agent commands run only inside the sandbox, and it cannot start/);
    expect(r.output).toContain('bubblewrap (bwrap) is not installed');
    expect(r.output).toContain('SANDBOX=off');
    expect((await call(tb, 'list_files', {})).output).toMatch(/is empty/);
  });

  it('refuses every command when bwrap is there but fails (a container without user namespaces)', async () => {
    // /bin/false stands in for a bwrap that exits at once, as it does where namespaces are denied.
    const sandbox = createSandbox({ enabled: true, bwrapPaths: ['/bin/false'] });
    expect(await sandbox.status()).toEqual({ state: 'unavailable', reason: 'bwrap exited with code 1' });
    const r = await call(createToolbox({ workspace: plainWorkspace(dir), sandbox }), 'run_command', {
      command: 'true',
    });
    expect(r).toMatchObject({ isError: true, output: expect.stringContaining('bwrap exited with code 1') });
  });

  it('probes once and says "on" where bwrap works', async () => {
    const sandbox = createSandbox({ enabled: true });
    const first = sandbox.status();
    expect(sandbox.status()).toBe(first);
    expect(await first).toEqual({ state: 'on', bwrap: expect.stringMatching(/\/bwrap$/) });
  });

  it('SANDBOX=off runs commands unconfined, as the explicit opt-out says', async () => {
    const sandbox = createSandbox({ enabled: false });
    expect(await sandbox.status()).toEqual({ state: 'off' });
    const r = await call(createToolbox({ workspace: plainWorkspace(dir), sandbox }), 'run_command', {
      command: `test -d /proc/${process.pid} && echo sees-the-server`,
    });
    expect(r.output).toBe('sees-the-server\n[exit code: 0]');
  });
});
