import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fakeGoosePath, gooseComplete, gooseText } from '@ccl/testing';
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
