import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  type FakeGooseStep,
  fakeGoosePath,
  gooseComplete,
  gooseError,
  gooseLog,
  gooseText,
  gooseToolRequest,
  gooseToolResponse,
  writeGooseScript,
} from '@ccl/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, RunResult, RunStream } from '../runner.ts';
import { testRunOptions } from '../test-run-options.ts';
import { createSandbox } from '../workspace/sandbox.ts';
import type { Workspace } from '../workspace/types.ts';
import { findGooseBinary } from './goose-binary.ts';
import { GooseRunner } from './goose-runner.ts';

/** The fake goose and its script live outside any workspace: these tests run it unconfined (see goose-runs-in-the-sandbox.test.ts). */
const UNCONFINED = createSandbox({ enabled: false });

let dir: string;
let workspace: Workspace;
/** Script folders written by this file's tests, removed after each test. */
const scriptDirs: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'goose-ws-'));
  workspace = { dir, diff: async () => ({ files: [], unified: '' }), dispose: async () => {} };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await Promise.all(scriptDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function input(prompt: string, signal = new AbortController().signal) {
  return { executionId: 'exec-1', workspace, prompt, options: testRunOptions(), attempt: 1, signal };
}

async function drain(stream: RunStream): Promise<{ events: AgentEvent[]; result: RunResult }> {
  const events: AgentEvent[] = [];
  for (;;) {
    const step = await stream.next();
    if (step.done) return { events, result: step.value };
    events.push(step.value);
  }
}

async function runner(steps: FakeGooseStep[], env: Record<string, string> = {}) {
  const script = await writeGooseScript(steps);
  scriptDirs.push(dirname(script.scriptPath));
  return {
    script,
    runner: new GooseRunner({ bin: fakeGoosePath(), env: { ...script.env, ...env }, sandbox: UNCONFINED }),
  };
}

/** Alive and not a zombie (an orphan killed with the group waits for PID 1 to reap it). */
async function isLive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

function groupGone(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

describe('GooseRunner', () => {
  it('streams messages, a tool call and its result, edits the workspace and completes', async () => {
    const { script, runner: goose } = await runner([
      { line: gooseText("I'll create hello.txt.") },
      { line: gooseToolRequest('call_1', 'developer__text_editor', { command: 'write', path: 'hello.txt' }) },
      { write_file: { path: 'hello.txt', content: 'hello from goose\n' } },
      { line: gooseLog('developer', 'wrote 17 bytes') },
      { line: gooseToolResponse('call_1', 'Successfully wrote to hello.txt') },
      { line: gooseText('Created ', 'msg_final') },
      { line: gooseText('hello.txt.', 'msg_final') },
      { line: gooseComplete({ input: 1200, output: 80, costUsd: 0.0042 }) },
    ]);
    const { events, result } = await drain(goose.run(input('create hello.txt')));

    expect(events.map((e) => e.type)).toEqual([
      'status',
      'message',
      'tool_call',
      'tool_result',
      'message',
      'message',
      'usage',
    ]);
    expect(events[0]).toMatchObject({ type: 'status', phase: 'running' });
    expect(events[1]).toEqual({ type: 'message', text: "I'll create hello.txt." });
    expect(events[2]).toEqual({
      type: 'tool_call',
      id: 'call_1',
      name: 'developer__text_editor',
      input: { command: 'write', path: 'hello.txt' },
    });
    expect(events[3]).toEqual({
      type: 'tool_result',
      id: 'call_1',
      output: 'Successfully wrote to hello.txt',
    });
    expect(events[6]).toEqual({ type: 'usage', inputTokens: 1200, outputTokens: 80, costUsd: 0.0042 });
    expect(result).toMatchObject({
      success: true,
      result: 'Created hello.txt.',
      metadata: {
        agent: 'goose',
        turns: 1,
        input_tokens: 1200,
        output_tokens: 80,
        cost_usd: 0.0042,
        exit_code: 0,
      },
    });
    expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe('hello from goose\n');

    const record = await script.readRecord();
    expect(record?.cwd).toBe(dir);
    expect(record?.argv).toEqual([
      'run',
      '-t',
      'create hello.txt',
      '--output-format',
      'stream-json',
      '--no-session',
      '-q',
      '--max-turns',
      '40',
    ]);
  });

  it('gives goose only PATH, HOME, GOOSE_MODE=auto and its provider settings', async () => {
    process.env.CANARY_SECRET = 'must-not-leak';
    try {
      const { script, runner: goose } = await runner([{ line: gooseText('ok') }, { line: gooseComplete() }], {
        GOOSE_PROVIDER: 'openai',
        GOOSE_MODEL: 'gpt-4.1',
      });
      const { result, events } = await drain(goose.run(input('check env')));
      expect(result.success).toBe(true);
      expect(result.metadata).toMatchObject({ model: 'gpt-4.1' });
      expect(events).toContainEqual({ type: 'usage', inputTokens: 0, outputTokens: 0, model: 'gpt-4.1' });
      const env = (await script.readRecord())?.env ?? {};
      expect(env.CANARY_SECRET).toBeUndefined();
      expect(env.GOOSE_MODE).toBe('auto');
      expect(env.GOOSE_PROVIDER).toBe('openai');
      expect(env.PATH).toBe(process.env.PATH);
      expect(Object.keys(env).sort()).toEqual(
        [
          'FAKE_GOOSE_RECORD',
          'FAKE_GOOSE_SCRIPT',
          'GOOSE_MODE',
          'GOOSE_MODEL',
          'GOOSE_PROVIDER',
          'HOME',
          'PATH',
        ].sort(),
      );
    } finally {
      delete process.env.CANARY_SECRET;
    }
  });

  it('kills the process group on abort and rejects with the reason once it is gone', async () => {
    const { script, runner: goose } = await runner([{ line: gooseText('working…') }, { sleep_ms: 60_000 }]);
    const ac = new AbortController();
    const stream = goose.run(input('long task', ac.signal));
    expect((await stream.next()).value).toMatchObject({ type: 'status' });
    expect((await stream.next()).value).toEqual({ type: 'message', text: 'working…' });
    const pid = (await script.readRecord())?.pid ?? 0;
    expect(pid).toBeGreaterThan(0);
    expect(groupGone(pid)).toBe(false);

    const started = Date.now();
    const reason = new Error('cancelled by test');
    ac.abort(reason);
    await expect(stream.next()).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(groupGone(pid)).toBe(true);
  });

  it('SIGKILLs a group that ignores SIGTERM, children included', async () => {
    const { script, runner: goose } = await runner([
      { ignore_sigterm: true },
      { spawn_child: true },
      { line: gooseText('busy') },
      { sleep_ms: 60_000 },
    ]);
    const ac = new AbortController();
    const stream = goose.run(input('stubborn', ac.signal));
    await stream.next(); // status
    await stream.next(); // message
    const record = await script.readRecord();
    const child = record?.children[0] ?? 0;
    expect(await isLive(child)).toBe(true);

    const started = Date.now();
    ac.abort(new Error('stop'));
    await expect(stream.next()).rejects.toThrow('stop');
    const elapsed = Date.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
    expect(elapsed).toBeLessThan(3_000);
    expect(await isLive(record?.pid ?? 0)).toBe(false);
    expect(await isLive(child)).toBe(false);
  });

  it('fails clearly when the binary is missing', async () => {
    const goose = new GooseRunner({ bin: '/nonexistent/bin/goose', sandbox: UNCONFINED });
    const { events, result } = await drain(goose.run(input('anything')));
    expect(events).toEqual([]);
    expect(result).toMatchObject({
      success: false,
      error: 'goose binary not found at /nonexistent/bin/goose; install Goose or set GOOSE_BIN',
    });
  });

  it('fails with the message of an error line', async () => {
    const { runner: goose } = await runner([
      { line: gooseText('Let me try.') },
      { line: gooseError('Request failed: 401 Unauthorized: invalid x-api-key') },
      { exit: 1 },
    ]);
    const { events, result } = await drain(goose.run(input('fail please')));
    expect(events).toContainEqual({
      type: 'error',
      message: 'Request failed: 401 Unauthorized: invalid x-api-key',
    });
    expect(result).toMatchObject({
      success: false,
      error: 'goose: Request failed: 401 Unauthorized: invalid x-api-key',
    });
  });

  it('reports the last stderr lines when goose exits non-zero without completing', async () => {
    const { runner: goose } = await runner([
      { text: 'Loading extensions…' },
      { stderr: 'Error: No provider configured. Run `goose configure` first' },
      { exit: 3 },
    ]);
    const { events, result } = await drain(goose.run(input('no provider')));
    // Non-JSON stdout is kept as a log line.
    expect(events).toContainEqual({ type: 'message', text: '[goose] Loading extensions…\n' });
    expect(result.success).toBe(false);
    expect(result.error).toContain('goose exited with code 3 without completing');
    expect(result.error).toContain('No provider configured');
  });

  it('passes a prompt that starts with a dash as --text=…', async () => {
    const { script, runner: goose } = await runner([{ line: gooseComplete() }]);
    const { result } = await drain(goose.run(input('--help me')));
    expect(result.success).toBe(true);
    expect((await script.readRecord())?.argv.slice(0, 2)).toEqual(['run', '--text=--help me']);
  });
});

describe('findGooseBinary', () => {
  it('accepts an executable path, searches PATH for a name, and returns null otherwise', async () => {
    const fake = fakeGoosePath();
    expect(await findGooseBinary(fake)).toBe(fake);
    expect(await findGooseBinary('/nonexistent/goose')).toBeNull();
    const savedPath = process.env.PATH;
    process.env.PATH = `/nonexistent:${dirname(fake)}`;
    try {
      expect(await findGooseBinary('fake-goose')).toBe(fake);
      expect(await findGooseBinary()).toBeNull();
    } finally {
      process.env.PATH = savedPath;
    }
  });
});
