import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fakeGoosePath, gooseComplete, gooseText, gooseToolRequest, gooseToolResponse } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent, RunResult, RunStream } from '../runner.ts';
import { testRunOptions } from '../test-run-options.ts';
import { createSandbox } from '../workspace/sandbox.ts';
import { livePidsRunning, plainWorkspace, tempDir } from '../workspace/test-helpers.ts';
import { GooseRunner } from './goose-runner.ts';

/*
 * Goose runs its own shell commands, so goose itself runs in the sandbox: it sees the
 * workspace, its binary and its configuration, and nothing of the server.
 */
const CANARY = `goose-canary-${randomBytes(12).toString('hex')}`;
let root: string;
let workspace: string;
let bin: string;

beforeAll(() => {
  process.env.CANARY_GOOSE_SECRET = CANARY;
  root = tempDir('goose-sandbox');
  workspace = join(root, 'workspaces', 'exec-a');
  mkdirSync(workspace, { recursive: true });
  writeFileSync(join(root, 'secrets.key'), `${CANARY}\n`);
  // Only the binary itself is shown inside; a copy keeps the repository checkout out of sight.
  bin = join(root, 'bin', 'goose');
  mkdirSync(join(root, 'bin'));
  copyFileSync(fakeGoosePath(), bin);
  chmodSync(bin, 0o755);
});
afterAll(() => {
  delete process.env.CANARY_GOOSE_SECRET;
  rmSync(root, { recursive: true, force: true });
});

async function drain(stream: RunStream): Promise<{ events: AgentEvent[]; result: RunResult }> {
  const events: AgentEvent[] = [];
  for (;;) {
    const step = await stream.next();
    if (step.done) return { events, result: step.value };
    events.push(step.value);
  }
}

describe('goose in the sandbox', () => {
  it('works in the workspace, sees none of the server, and leaves no process behind', async () => {
    // The script and the record sit in the workspace: the only place goose can read and write.
    writeFileSync(
      join(workspace, 'script.json'),
      JSON.stringify([
        { line: gooseText('working') },
        { write_file: { path: 'hello.txt', content: 'from goose\n' } },
        { spawn_child: true },
        { line: gooseComplete() },
      ]),
    );
    const runner = new GooseRunner({
      bin,
      env: {
        FAKE_GOOSE_SCRIPT: join(workspace, 'script.json'),
        FAKE_GOOSE_RECORD: join(workspace, 'record.json'),
      },
      sandbox: createSandbox({ enabled: true }),
      providerDestinations: ['127.0.0.1:11434'],
    });
    const { result } = await drain(
      runner.run({
        executionId: 'exec-a',
        workspace: plainWorkspace(workspace),
        prompt: 'say hi',
        options: testRunOptions(),
        attempt: 1,
        signal: new AbortController().signal,
      }),
    );
    expect(result.success).toBe(true);
    expect(readFileSync(join(workspace, 'hello.txt'), 'utf8')).toBe('from goose\n');

    const record = JSON.parse(readFileSync(join(workspace, 'record.json'), 'utf8'));
    expect(record.cwd).toBe(workspace);
    // Its own PID namespace: goose is one of the first processes there.
    expect(record.pid).toBeLessThan(10);
    expect(JSON.stringify(record.env)).not.toContain(CANARY);
    expect(record.env.HOME).toBe('/home/agent');
    // Its provider is reachable only through the egress proxy.
    expect(record.env.HTTPS_PROXY).toBe('http://127.0.0.1:3128');
    // The child goose started died with the sandbox.
    expect(livePidsRunning('setInterval(() => {}, 1000)')).toEqual([]);
  });

  it('in approval mode keeps its session in the workspace, so a run parked at a question resumes in it', async () => {
    const dir = join(root, 'workspaces', 'exec-b');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'script.json'),
      JSON.stringify([
        { line: gooseToolRequest('call_run', 'developer__shell', { command: 'echo ran > ran.txt' }) },
        { write_file: { path: 'ran.txt', content: 'ran\n' } },
        { line: gooseToolResponse('call_run', '') },
        { line: gooseText('Wrote ran.txt.') },
        { line: gooseComplete() },
      ]),
    );
    const runner = new GooseRunner({
      bin,
      env: { FAKE_GOOSE_SCRIPT: join(dir, 'script.json'), FAKE_GOOSE_RECORD: join(dir, 'record.json') },
      sandbox: createSandbox({ enabled: true }),
    });
    const input = {
      executionId: 'exec-b',
      workspace: plainWorkspace(dir),
      prompt: 'write ran.txt',
      options: testRunOptions({ approval: 'commands' }),
      attempt: 1,
      signal: new AbortController().signal,
    };
    const first = runner.run(input);
    let step = await first.next();
    while (!step.done && step.value.type !== 'approval_request') step = await first.next();
    if (step.done || step.value.type !== 'approval_request') throw new Error('goose never asked');
    const { checkpoint } = step.value;
    await first.return({ success: false, result: null });
    expect(livePidsRunning(`${bin} acp`)).toEqual([]);

    const { result } = await drain(
      runner.run({ ...input, resume: { checkpoint, decision: { approved: true, by: 'alice' } } }),
    );
    expect(result).toMatchObject({ success: true, result: 'Wrote ran.txt.' });
    expect(readFileSync(join(dir, 'ran.txt'), 'utf8')).toBe('ran\n');
    const record = JSON.parse(readFileSync(join(dir, 'record.json'), 'utf8'));
    expect(record.loaded).toBe('20250101_fake');
    expect(record.env.XDG_DATA_HOME).toBe(join(dir, '.git', 'clawlink-goose'));
  });

  it('refuses to start goose where the sandbox cannot start', async () => {
    const runner = new GooseRunner({
      bin,
      sandbox: createSandbox({ enabled: true, bwrapPaths: ['/nonexistent/bwrap'] }),
    });
    const { events, result } = await drain(
      runner.run({
        executionId: 'exec-b',
        workspace: plainWorkspace(workspace),
        prompt: 'say hi',
        options: testRunOptions(),
        attempt: 1,
        signal: new AbortController().signal,
      }),
    );
    expect(events).toEqual([]);
    expect(result.success).toBe(false);
    expect(result.error).toMatch(/^goose cannot start: refused: agent commands run only inside the sandbox/);
  });
});
