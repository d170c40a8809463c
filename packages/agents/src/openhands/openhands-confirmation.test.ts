import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RunOptions } from '@ccl/contracts';
import {
  type FakeOpenHandsServer,
  ohAction,
  ohAgentMessage,
  ohFinish,
  ohObservation,
  startFakeOpenHands,
} from '@ccl/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, ApprovalDecision, RunResult, RunStream } from '../runner.ts';
import { testRunOptions } from '../test-run-options.ts';
import type { Workspace } from '../workspace/types.ts';
import { OpenHandsRunner } from './openhands-runner.ts';

const LLM = { model: 'anthropic/claude-sonnet-4-6' };

let dir: string;
let workspace: Workspace;
let fake: FakeOpenHandsServer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'openhands-confirm-'));
  workspace = {
    dir,
    diff: async () => ({ files: (await readdir(dir)).sort(), unified: '' }),
    dispose: async () => {},
  };
  fake = await startFakeOpenHands();
});
afterEach(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

const approvalMode = testRunOptions({ approval: 'commands' });

function run(
  options: RunOptions = approvalMode,
  resume?: { checkpoint: unknown; decision?: ApprovalDecision },
): RunStream {
  const runner = new OpenHandsRunner({ url: fake.url, llm: LLM });
  return runner.run({
    executionId: 'exec-1',
    workspace,
    prompt: 'make out.txt',
    options,
    attempt: 1,
    ...(resume ? { resume } : {}),
    signal: new AbortController().signal,
  });
}

type ApprovalRequest = Extract<AgentEvent, { type: 'approval_request' }>;

/** Drives the stream like the worker: each approval request gets `decide`'s answer. */
async function drive(
  stream: RunStream,
  decide: (req: ApprovalRequest) => ApprovalDecision | Promise<ApprovalDecision>,
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
      reply = await decide(step.value);
    }
  }
}

/** The agent wants to run a command that writes out.txt; what it does next depends on the answer. */
function scriptCommand() {
  const cmd = ohAction({
    toolName: 'terminal',
    action: {
      kind: 'TerminalAction',
      command: 'echo hi > out.txt',
      is_input: false,
      timeout: null,
      reset: false,
    },
    thought: 'I will write the file with a command.',
  });
  fake.script([
    cmd,
    {
      after_confirmation: {
        accepted: [
          { write_file: { path: 'out.txt', content: 'hi\n' } },
          ohObservation(cmd, ''),
          ohFinish('Wrote out.txt.'),
        ],
        rejected: [
          ohAgentMessage('The command was rejected, so I stop here.'),
          ohFinish('Did not write out.txt.'),
        ],
      },
    },
  ]);
  return cmd;
}

const respondBodies = () =>
  fake.requests.filter((r) => r.path.endsWith('/events/respond_to_confirmation')).map((r) => r.body);

describe('OpenHandsRunner in approval mode', () => {
  it('parks at the question: let go there, the conversation waits; resumed from the checkpoint with the decision, it goes on', async () => {
    scriptCommand();
    const first = run();
    let step = await first.next();
    while (!step.done && step.value.type !== 'approval_request') step = await first.next();
    if (step.done || step.value.type !== 'approval_request') throw new Error('no question');
    const question = step.value;
    // The worker parks: it lets the stream go without an answer.
    await first.return({ success: false, result: null });
    const id = String(question.details?.conversation_id);
    expect(fake.paused).not.toContain(id);
    expect(fake.deleted).not.toContain(id);
    expect(fake.conversation(id)?.status).toBe('waiting_for_confirmation');

    // Any worker later: a new stream from the checkpoint, with the decision.
    const { asked, result, events } = await drive(
      run(approvalMode, {
        checkpoint: JSON.parse(JSON.stringify(question.checkpoint)),
        decision: { approved: true },
      }),
      () => ({ approved: false }),
    );
    expect(asked).toEqual([]);
    expect(respondBodies()).toEqual([{ accept: true }]);
    expect(result).toMatchObject({
      success: true,
      result: 'Wrote out.txt.',
      metadata: { conversation_id: id },
    });
    expect(existsSync(join(dir, 'out.txt'))).toBe(true);
    // The command's call was reported before the park; after it, only what came next.
    expect(events.filter((e) => e.type === 'tool_call' && e.name === 'terminal')).toEqual([]);
    expect(events).toContainEqual(expect.objectContaining({ type: 'tool_result' }));
  });

  it('abandon stops the conversation a parked run left waiting', async () => {
    scriptCommand();
    const first = run();
    let step = await first.next();
    while (!step.done && step.value.type !== 'approval_request') step = await first.next();
    if (step.done || step.value.type !== 'approval_request') throw new Error('no question');
    await first.return({ success: false, result: null });
    const id = String(step.value.details?.conversation_id);
    await new OpenHandsRunner({ url: fake.url, llm: LLM }).abandon(step.value.checkpoint);
    expect(fake.paused).toContain(id);
    expect(fake.deleted).toContain(id);
  });

  it('creates the conversation with AlwaysConfirm, asks before the command, and runs it once approved', async () => {
    const cmd = scriptCommand();
    let conversationId = '';
    const { asked, result } = await drive(run(), (req) => {
      conversationId = String(req.details?.conversation_id);
      // The remote agent really waits: nothing ran yet.
      expect(fake.conversation(conversationId)?.status).toBe('waiting_for_confirmation');
      expect(existsSync(join(dir, 'out.txt'))).toBe(false);
      return { approved: true, by: 'alice' };
    });
    expect(asked).toEqual([
      {
        type: 'approval_request',
        id: cmd.tool_call_id,
        kind: 'command',
        description: 'run: echo hi > out.txt',
        details: expect.objectContaining({
          tool: 'terminal',
          input: expect.objectContaining({ command: 'echo hi > out.txt' }),
        }),
        checkpoint: expect.objectContaining({ v: 1, conversation_id: conversationId }),
      },
    ]);
    expect(fake.requests.find((r) => r.path === '/api/conversations')?.body).toMatchObject({
      confirmation_policy: { kind: 'AlwaysConfirm' },
    });
    expect(respondBodies()).toEqual([{ accept: true }]);
    expect(result).toMatchObject({ success: true, result: 'Wrote out.txt.' });
    expect(existsSync(join(dir, 'out.txt'))).toBe(true);
  });

  it('rejects with the reviewer and comment, runs the conversation again, and the agent decides the outcome', async () => {
    scriptCommand();
    let conversationId = '';
    const { events, result } = await drive(run(), (req) => {
      conversationId = String(req.details?.conversation_id);
      return { approved: false, by: 'alice', comment: 'not on main' };
    });
    expect(respondBodies()).toEqual([{ accept: false, reason: 'denied by alice: not on main' }]);
    const remote = fake.conversation(conversationId);
    // The agent got the rejection in its history and was run again to react to it.
    expect(remote?.events).toContainEqual(
      expect.objectContaining({
        kind: 'UserRejectObservation',
        rejection_reason: 'denied by alice: not on main',
      }),
    );
    expect(remote?.runs).toBe(2);
    expect(events).toContainEqual(
      expect.objectContaining({
        type: 'tool_result',
        output: 'rejected: denied by alice: not on main',
        isError: true,
      }),
    );
    expect(result).toMatchObject({ success: true, result: 'Did not write out.txt.' });
    expect(existsSync(join(dir, 'out.txt'))).toBe(false);
  });

  it('accepts actions without a command at once (approval covers commands only)', async () => {
    const view = ohAction({
      toolName: 'file_editor',
      action: { kind: 'FileEditorAction', command: 'view', path: dir },
    });
    fake.script([
      view,
      ohObservation(view, 'out.txt', { kind: 'FileEditorObservation' }),
      ohFinish('Looked.'),
    ]);
    const { asked, result } = await drive(run(), () => {
      throw new Error('no person should be asked');
    });
    expect(asked).toEqual([]);
    expect(respondBodies()).toEqual([{ accept: true }]);
    expect(result).toMatchObject({ success: true, result: 'Looked.' });
  });

  it('outside approval mode the conversation never waits', async () => {
    scriptCommand();
    const { asked, result } = await drive(run(testRunOptions()), () => ({ approved: false }));
    expect(asked).toEqual([]);
    expect(fake.requests.find((r) => r.path === '/api/conversations')?.body).not.toHaveProperty(
      'confirmation_policy',
    );
    expect(result).toMatchObject({ success: true, result: 'Wrote out.txt.' });
    expect(existsSync(join(dir, 'out.txt'))).toBe(true);
  });
});
