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
import type { AgentEvent, ApprovalDecision, RunInput, RunResult, RunStream } from '../runner.ts';
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

/** The checkpoint of SCRIPT's question: goose's session and the call it asked about. */
const QUESTION = {
  goose_session: '20250101_fake',
  asked: { title: 'Developer: Shell', input: { command: 'echo ran > ran.txt' } },
};

async function run(options: RunOptions, resume?: RunInput['resume'], steps: FakeGooseStep[] = SCRIPT) {
  const script = await writeGooseScript(steps);
  scriptDirs.push(dirname(script.scriptPath));
  const runner = new GooseRunner({ bin: fakeGoosePath(), env: script.env, sandbox: UNCONFINED });
  const stream = runner.run({
    executionId: 'exec-1',
    workspace,
    prompt: 'write ran.txt',
    options: { ...options, max_turns: 7 },
    attempt: 1,
    signal: new AbortController().signal,
    ...(resume ? { resume } : {}),
  });
  return { script, stream };
}

/** Runs SCRIPT to its question and lets go there, as a worker does when the run parks. */
async function parkAtTheQuestion() {
  const { script, stream } = await run(testRunOptions({ approval: 'commands' }));
  let step = await stream.next();
  while (!step.done && step.value.type !== 'approval_request') step = await stream.next();
  if (step.done) throw new Error('goose never asked');
  const question = step.value as ApprovalRequest;
  await stream.return({ success: false, result: null });
  const pid = Number((await script.readRecord())?.pid);
  return { question, pid };
}

const never = (): ApprovalDecision => {
  throw new Error('asked a person again');
};

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
        checkpoint: QUESTION,
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

  it('parks at the question: no goose is left, and a runner resumed with the approval goes on in the same goose session', async () => {
    const { question, pid } = await parkAtTheQuestion();
    expect(question.checkpoint).toEqual(QUESTION);
    // Let go at the question: goose and its group are gone, the command never ran.
    expect(await processGroupAlive(pid)).toBe(false);
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
    // goose kept its session inside the workspace's .git (it goes wherever the workspace goes).
    expect(existsSync(join(dir, '.git', 'clawlink-goose', 'goose', 'sessions'))).toBe(true);

    const { script, stream } = await run(testRunOptions({ approval: 'commands' }), {
      checkpoint: question.checkpoint,
      decision: { approved: true, by: 'alice' },
    });
    const { events, result } = await drive(stream, never);
    expect(result).toMatchObject({ success: true, result: 'Wrote ran.txt.' });
    expect(existsSync(join(dir, 'ran.txt'))).toBe(true);
    // The session's replay (the README view before the question) is not reported a second time.
    expect(events.filter((e) => e.type === 'tool_call').map((e) => e.id)).toEqual(['call_run']);
    expect(events.filter((e) => e.type === 'tool_result').map((e) => e.id)).toEqual(['call_run']);
    const record = await script.readRecord();
    expect(record?.loaded).toBe('20250101_fake');
    expect(record?.prompts).toEqual([
      'The person reviewing this run approved your request to run: echo ran > ran.txt. Run it now, then go on with the task.',
    ]);
    expect(record?.env.XDG_DATA_HOME).toBe(join(dir, '.git', 'clawlink-goose'));
  });

  it('a run that asks twice parks twice, each resume going on in the same session', async () => {
    const twoQuestions: FakeGooseStep[] = [
      { line: gooseToolRequest('call_a', 'developer__shell', { command: 'echo a > a.txt' }) },
      { write_file: { path: 'a.txt', content: 'a\n' } },
      { line: gooseToolResponse('call_a', '') },
      { line: gooseToolRequest('call_b', 'developer__shell', { command: 'echo b > b.txt' }) },
      { write_file: { path: 'b.txt', content: 'b\n' } },
      { line: gooseToolResponse('call_b', '') },
      { line: gooseText('Wrote both.') },
      { line: gooseComplete() },
    ];
    const approval = testRunOptions({ approval: 'commands' });
    /** Drives a run to its next question (let go there) or its end. */
    const untilQuestion = async (stream: RunStream) => {
      const events: AgentEvent[] = [];
      for (let step = await stream.next(); ; step = await stream.next()) {
        if (step.done) return { events, result: step.value };
        events.push(step.value);
        if (step.value.type === 'approval_request') {
          await stream.return({ success: false, result: null });
          return { events, question: step.value };
        }
      }
    };
    const approved = (question?: AgentEvent) => ({
      checkpoint: question?.type === 'approval_request' ? question.checkpoint : undefined,
      decision: { approved: true, by: 'a' },
    });
    const first = await untilQuestion((await run(approval, undefined, twoQuestions)).stream);
    expect(first.question?.id).toBe('call_a');
    const second = await untilQuestion((await run(approval, approved(first.question), twoQuestions)).stream);
    expect(second.question?.id).toBe('call_b');
    expect(existsSync(join(dir, 'a.txt'))).toBe(true);
    expect(existsSync(join(dir, 'b.txt'))).toBe(false);
    const last = await run(approval, approved(second.question), twoQuestions);
    const third = await untilQuestion(last.stream);
    expect(third.result).toMatchObject({ success: true, result: 'Wrote both.' });
    expect(existsSync(join(dir, 'b.txt'))).toBe(true);
    // The last resume reported only what came after its question, not the session's replay.
    expect(third.events.filter((e) => e.type === 'tool_call').map((e) => e.id)).toEqual(['call_b']);
    expect((await last.script.readRecord())?.prompts).toEqual([
      'The person reviewing this run approved your request to run: echo b > b.txt. Run it now, then go on with the task.',
    ]);
  });

  it('resumed with a denial, goose is told so and the command never runs', async () => {
    const { question } = await parkAtTheQuestion();
    const { script, stream } = await run(testRunOptions({ approval: 'commands' }), {
      checkpoint: question.checkpoint,
      decision: { approved: false, by: 'bob', comment: 'not on main' },
    });
    const { events, result } = await drive(stream, never);
    expect(result).toMatchObject({ success: true, result: 'You declined, so I left the tree alone.' });
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'tool_result', id: 'call_run', isError: true }),
    );
    expect((await script.readRecord())?.prompts).toEqual([
      'The person reviewing this run declined your request to run: echo ran > ran.txt. Their comment: not on main Do not run it; go on with the task without it.',
    ]);
  });

  it('a session goose cannot load is said so, and the run starts over and asks again', async () => {
    const { stream } = await run(testRunOptions({ approval: 'commands' }), {
      checkpoint: { ...QUESTION, goose_session: 'gone' },
      decision: { approved: true, by: 'alice' },
    });
    const { asked, events, result } = await drive(stream, () => ({ approved: true, by: 'alice' }));
    expect(events[1]).toMatchObject({
      type: 'message',
      text: expect.stringMatching(/^\[goose\] could not load its session \(.*gone.*\); starting over/),
    });
    expect(asked.map((a) => a.id)).toEqual(['call_run']);
    expect(result).toMatchObject({ success: true, result: 'Wrote ran.txt.' });
  });

  it('an error answer to the prompt fails the run with the message of goose', async () => {
    const { stream } = await run(testRunOptions({ approval: 'commands' }), undefined, [
      { line: gooseText('Calling the model…') },
      { line: { type: 'error', error: 'Request failed: Authentication failed (401)' } },
    ]);
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
