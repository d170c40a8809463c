import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { processGroupAlive } from './process-group.ts';
import { createSandbox } from './sandbox.ts';
import { call, livePidsRunning, plainWorkspace, tempDir } from './test-helpers.ts';
import { createToolbox, type Toolbox } from './toolbox.ts';

let dir: string;
let tb: Toolbox;

beforeEach(() => {
  dir = tempDir('cmd');
  tb = createToolbox({ workspace: plainWorkspace(dir), env: { GREETING: 'hello' } });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const pidIn = (file: string) => Number(readFileSync(join(dir, file), 'utf8').trim());

/**
 * Gone means no live process in the group. `kill(-pgid, 0)` would be enough on a
 * host whose PID 1 reaps orphans; processGroupAlive also ignores zombies left by
 * PID 1s that do not (as in some containers).
 */
async function expectGroupGone(pgid: number) {
  expect(pgid).toBeGreaterThan(1);
  expect(await processGroupAlive(pgid)).toBe(false);
}

describe('run_command', () => {
  it('runs in the workspace and reports the exit code', async () => {
    const r = await call(tb, 'run_command', { command: 'pwd; echo "$GREETING"' });
    expect(r).toEqual({ isError: false, output: `${dir}\nhello\n[exit code: 0]` });
  });

  it('interleaves stdout and stderr in order, and marks a failure', async () => {
    const r = await call(tb, 'run_command', { command: 'echo one; echo two >&2; echo three; exit 3' });
    expect(r).toEqual({ isError: true, output: 'one\ntwo\nthree\n[exit code: 3]' });
  });

  it('gives the command an empty stdin and says when there is no output', async () => {
    const r = await call(tb, 'run_command', { command: 'cat' });
    expect(r.output).toBe('(no output)\n[exit code: 0]');
  });

  it('caps the output, keeping the start and the end, with a note', async () => {
    const small = createToolbox({ workspace: plainWorkspace(dir), limits: { outputCapBytes: 1000 } });
    const r = await call(small, 'run_command', {
      command: "echo START; head -c 200000 /dev/zero | tr '\\0' x; echo; echo END",
    });
    expect(r.isError).toBe(false);
    expect(r.output.startsWith('START\nxxx')).toBe(true);
    expect(r.output).toMatch(/\[\.\.\. 199\d{3} bytes omitted: output capped at 1000 bytes/);
    expect(r.output.endsWith('xxx\nEND\n[exit code: 0]')).toBe(true);
    expect(Buffer.byteLength(r.output)).toBeLessThan(1200);
  });

  it('strips the server environment: only PATH, HOME, LANG and the given env', async () => {
    process.env.CANARY_SECRET = 'canary-4242';
    process.env.ANTHROPIC_API_KEY = 'sk-ant-canary';
    try {
      const r = await call(tb, 'run_command', { command: 'env' });
      expect(r.output).not.toContain('CANARY_SECRET');
      expect(r.output).not.toContain('canary-4242');
      expect(r.output).not.toContain('sk-ant-canary');
      const names = r.output
        .split('\n')
        .filter((l) => /^[A-Z_][A-Z0-9_]*=/.test(l))
        .map((l) => l.split('=')[0])
        .filter((n) => n !== 'PWD' && n !== 'SHLVL' && n !== 'OLDPWD' && n !== '_');
      expect(names.sort()).toEqual(['GREETING', 'HOME', 'LANG', 'PATH']);
    } finally {
      delete process.env.CANARY_SECRET;
      delete process.env.ANTHROPIC_API_KEY;
    }
  });

  it('kills the whole sandbox on timeout', async () => {
    const started = Date.now();
    const r = await call(tb, 'run_command', { command: 'sleep 30.11 & sleep 30.12', timeout_s: 1 });
    const took = Date.now() - started;
    expect(r.isError).toBe(true);
    expect(r.output).toBe(
      '(no output)\n[timed out after 1 s: the command and its process group were killed]',
    );
    expect(took).toBeGreaterThanOrEqual(950);
    expect(took).toBeLessThan(3000);
    expect(livePidsRunning('sleep 30.1')).toEqual([]);
  });

  it('never lets timeout_s exceed the configured limit', async () => {
    const short = createToolbox({ workspace: plainWorkspace(dir), limits: { commandTimeoutMs: 500 } });
    const started = Date.now();
    const r = await call(short, 'run_command', { command: 'sleep 30', timeout_s: 60 });
    expect(r.output).toMatch(/timed out after 0.5 s/);
    expect(Date.now() - started).toBeLessThan(2500);
  });

  it('ends a command that ignores SIGTERM at once: the sandbox dies with bwrap', async () => {
    const started = Date.now();
    const r = await call(tb, 'run_command', { command: "trap '' TERM; sleep 30.21 & wait", timeout_s: 0.5 });
    expect(r.output).toMatch(/timed out/);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(livePidsRunning('sleep 30.21')).toEqual([]);
  });

  it('unconfined (SANDBOX=off): escalates to SIGKILL after 2 s when SIGTERM is ignored', async () => {
    const off = createToolbox({ workspace: plainWorkspace(dir), sandbox: createSandbox({ enabled: false }) });
    const started = Date.now();
    const r = await call(off, 'run_command', {
      command: "echo $$ > pgid; trap '' TERM; sleep 30 & wait",
      timeout_s: 0.5,
    });
    const took = Date.now() - started;
    expect(r.output).toMatch(/timed out/);
    expect(took).toBeGreaterThanOrEqual(2400);
    expect(took).toBeLessThan(4500);
    await expectGroupGone(pidIn('pgid'));
  });

  it('kills the sandbox within 1 s of an abort, and rejects', async () => {
    const ac = new AbortController();
    const running = call(tb, 'run_command', { command: 'sleep 30.31 & sleep 30.32' }, ac.signal);
    await delay(300);
    expect(livePidsRunning('sleep 30.3').length).toBeGreaterThan(0);
    const abortedAt = Date.now();
    ac.abort(new Error('cancelled by user'));
    await expect(running).rejects.toThrow('cancelled by user');
    expect(Date.now() - abortedAt).toBeLessThan(1000);
    expect(livePidsRunning('sleep 30.3')).toEqual([]);
  });

  it('stops background processes left behind by a finished command, setsid ones included', async () => {
    const r = await call(tb, 'run_command', {
      command: 'sleep 30.41 > /dev/null 2>&1 & setsid sleep 30.42 > /dev/null 2>&1 & echo started',
    });
    expect(r.output).toBe('started\n[exit code: 0]');
    expect(livePidsRunning('sleep 30.4')).toEqual([]);
  });

  it('reports bad input as an error', async () => {
    expect(await call(tb, 'run_command', {})).toEqual({
      isError: true,
      output: '"command" is required and must be a string',
    });
    expect((await call(tb, 'run_command', { command: 'true', timeout_s: -1 })).output).toBe(
      '"timeout_s" must be a positive number',
    );
  });
});
