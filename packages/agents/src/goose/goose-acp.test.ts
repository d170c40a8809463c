import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { RunOptions } from '@ccl/contracts';
import {
  type FakeGooseStep,
  fakeGoosePath,
  gooseComplete,
  gooseText,
  gooseToolRequest,
  gooseToolResponse,
  writeGooseScript,
} from '@ccl/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, ApprovalDecision, RunResult, RunStream } from '../runner.ts';
import { testRunOptions } from '../test-run-options.ts';
import { processGroupAlive } from '../workspace/process-group.ts';
import { createSandbox } from '../workspace/sandbox.ts';
import type { Workspace } from '../workspace/types.ts';
import { GooseRunner } from './goose-runner.ts';

/** The fake goose and its script live outside any workspace: these tests run it unconfined (see goose-runs-in-the-sandbox.test.ts). */
const UNCONFINED = createSandbox({ enabled: false });

let dir: string;
let workspace: Workspace;
const scriptDirs: string[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'goose-acp-ws-'));
  workspace = { dir, diff: async () => ({ files: [], unified: '' }), dispose: async () => {} };
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await Promise.all(scriptDirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

type ApprovalRequest = Extract<AgentEvent, { type: 'approval_request' }>;

async function drive(
  stream: RunStream,
  decide: (req: ApprovalRequest) => ApprovalDecision,
): Promise<{ events: AgentEvent[]; result: RunResult; asked: ApprovalRequest[] }> {
  const events: AgentEvent[] = [];
  const asked: ApprovalRequest[] = [];
  let reply: ApprovalDecision | undefined;
  for (;;) {
    const step = await stream.next(reply);
    reply = undefined;
    if (step.done) return { events, result: step.value, asked };
    events.push(step.value);
    if (step.value.type === 'approval_request') {
      asked.push(step.value);
      reply = decide(step.value);
    }
  }
}

/** Views a file (no person asked), then runs a command that writes ran.txt. */
const SCRIPT: FakeGooseStep[] = [
  { line: gooseToolRequest('call_view', 'developer__text_editor', { command: 'view', path: 'README.md' }) },
  { line: gooseToolResponse('call_view', '# demo\n') },
  { line: gooseToolRequest('call_run', 'developer__shell', { command: 'echo ran > ran.txt' }) },
  { write_file: { path: 'ran.txt', content: 'ran\n' } },
  { line: gooseToolResponse('call_run', '') },
  {
    after_permission: {
      allowed: [{ line: gooseText('Wrote ran.txt.') }],
      declined: [{ line: gooseText('You declined, so I left the tree alone.') }],
    },
  },
  { line: gooseComplete({ input: 100, output: 20 }) },
];

async function run(options: RunOptions) {
  const script = await writeGooseScript(SCRIPT);
  scriptDirs.push(dirname(script.scriptPath));
  const runner = new GooseRunner({ bin: fakeGoosePath(), env: script.env, sandbox: UNCONFINED });
  const stream = runner.run({
    executionId: 'exec-1',
    workspace,
    prompt: 'write ran.txt',
    options: { ...options, max_turns: 7 },
    attempt: 1,
    signal: new AbortController().signal,
  });
  return { script, stream };
}

describe('GooseRunner in approval mode (goose acp)', () => {
  it('runs goose acp in approve mode and asks a person before the shell command only', async () => {
    const { script, stream } = await run(testRunOptions({ approval: 'commands' }));
    const { asked, events, result } = await drive(stream, () => {
      // Goose is held at the permission request: the command has not run.
      expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
      return { approved: true, by: 'alice' };
    });
    expect(asked).toEqual([
      {
        type: 'approval_request',
        id: 'call_run',
        kind: 'command',
        description: 'run: echo ran > ran.txt',
        details: { tool: 'Developer: Shell', input: { command: 'echo ran > ran.txt' } },
      },
    ]);
    expect(result).toMatchObject({
      success: true,
      result: 'Wrote ran.txt.',
      metadata: { protocol: 'acp', turns: 2 },
    });
    expect(existsSync(join(dir, 'ran.txt'))).toBe(true);
    expect(events.filter((e) => e.type === 'tool_result').map((e) => e.id)).toEqual([
      'call_view',
      'call_run',
    ]);
    const record = await script.readRecord();
    expect(record?.argv).toEqual(['acp']);
    expect(record?.env).toMatchObject({ GOOSE_MODE: 'approve', GOOSE_MAX_TURNS: '7' });
    expect(await processGroupAlive(Number(record?.pid))).toBe(false);
  });

  it('a denied command never runs; goose tells the model and the run ends as the agent decides', async () => {
    const { stream } = await run(testRunOptions({ approval: 'commands' }));
    const { events, result } = await drive(stream, () => ({ approved: false, comment: 'no' }));
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'tool_result',
        id: 'call_run',
        isError: true,
        output: expect.stringContaining('declined'),
      }),
    );
    expect(result).toMatchObject({ success: true, result: 'You declined, so I left the tree alone.' });
  });

  it('an error answer to the prompt fails the run with the message of goose', async () => {
    const script = await writeGooseScript([
      { line: gooseText('Calling the model…') },
      { line: { type: 'error', error: 'Request failed: Authentication failed (401)' } },
    ]);
    scriptDirs.push(dirname(script.scriptPath));
    const runner = new GooseRunner({ bin: fakeGoosePath(), env: script.env, sandbox: UNCONFINED });
    const stream = runner.run({
      executionId: 'exec-1',
      workspace,
      prompt: 'x',
      options: testRunOptions({ approval: 'commands' }),
      attempt: 1,
      signal: new AbortController().signal,
    });
    const { result } = await drive(stream, () => ({ approved: true }));
    expect(result).toMatchObject({
      success: false,
      error: 'goose: session/prompt failed: Request failed: Authentication failed (401)',
    });
  });

  it('outside approval mode goose run is used and nobody is asked', async () => {
    const { script, stream } = await run(testRunOptions());
    const { asked, result } = await drive(stream, () => ({ approved: false }));
    expect(asked).toEqual([]);
    expect(result).toMatchObject({ success: true, result: 'Wrote ran.txt.' });
    expect((await script.readRecord())?.argv[0]).toBe('run');
  });
});
