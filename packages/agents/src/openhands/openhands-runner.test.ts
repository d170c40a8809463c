import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type FakeOpenHandsServer,
  ohAction,
  ohAgentMessage,
  ohConversationError,
  ohFinish,
  ohObservation,
  ohStats,
  startFakeOpenHands,
} from '@ccl/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AgentEvent, type RunResult, type RunStream, TransientRunnerError } from '../runner.ts';
import { testRunOptions } from '../test-run-options.ts';
import type { Workspace } from '../workspace/types.ts';
import { EventSocket } from './event-socket.ts';
import { OpenHandsRunner, probeOpenHands } from './openhands-runner.ts';

const KEY = 'oh-session-key';
const LLM = { model: 'anthropic/claude-sonnet-4-6', apiKey: 'sk-llm' };

let dir: string;
let workspace: Workspace;
let fake: FakeOpenHandsServer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'openhands-ws-'));
  // Lists the files the agent left, so that the diff artifact can be checked.
  workspace = {
    dir,
    diff: async () => {
      const files = (await readdir(dir)).sort();
      return { files, unified: files.map((f) => `+++ b/${f}`).join('\n') };
    },
    dispose: async () => {},
  };
  fake = await startFakeOpenHands({ apiKey: KEY });
});
afterEach(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
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

async function until(check: () => boolean, timeoutMs = 2_000) {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('OpenHandsRunner', () => {
  it('a worker that picks the run up after the first one died follows the same conversation from its last checkpoint', async () => {
    const look = ohAction({
      toolName: 'terminal',
      action: { kind: 'TerminalAction', command: 'ls', is_input: false, timeout: null, reset: false },
    });
    const late = ohAgentMessage('Looked around while nobody listened.');
    fake.script([look, ohObservation(look, 'hello.txt'), { sleep_ms: 300 }, late, ohFinish('Done looking.')]);
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: KEY, llm: LLM });
    const first = runner.run(input('Look around'));
    let checkpoint: unknown;
    for (;;) {
      const step = await first.next();
      if (step.done) throw new Error('ended before its first checkpoint');
      if (step.value.type === 'checkpoint') {
        checkpoint = JSON.parse(JSON.stringify(step.value.state));
        break;
      }
    }
    // The first worker dies here: nothing of its runner runs again (no finally, no stop).
    const conversationId = (checkpoint as { conversation_id: string }).conversation_id;
    await until(() => fake.conversation(conversationId)?.status === 'finished', 5_000);

    const { events, result } = await drain(runner.run({ ...input('Look around'), resume: { checkpoint } }));
    expect(result).toMatchObject({
      success: true,
      result: 'Done looking.',
      metadata: { conversation_id: conversationId },
    });
    // What it missed comes out once; what the first worker reported does not come again.
    expect(events).toContainEqual({ type: 'message', text: 'Looked around while nobody listened.' });
    expect(events.filter((e) => e.type === 'tool_result')).toEqual([]);
    expect(fake.requests.filter((r) => r.method === 'POST' && r.path === '/api/conversations')).toHaveLength(
      1,
    );
    expect(fake.deleted).toEqual([]);
  });

  it('a pickup after a death counts the usage the first worker recorded once: its checkpoint follows each usage report', async () => {
    const look = ohAction({
      toolName: 'terminal',
      action: { kind: 'TerminalAction', command: 'ls', is_input: false, timeout: null, reset: false },
    });
    fake.script([
      look,
      ohObservation(look, 'hello.txt'),
      ohStats({ model: LLM.model, promptTokens: 1000, completionTokens: 50, costUsd: 0.01 }),
      { sleep_ms: 300 },
      ohStats({ model: LLM.model, promptTokens: 2500, completionTokens: 120, costUsd: 0.025 }),
      ohFinish('Done.'),
    ]);
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: KEY, llm: LLM });
    // The first worker records every event and saves every checkpoint, then dies once it has
    // recorded the first usage report and whatever followed it at once.
    const first = runner.run(input('Count'));
    const recorded: AgentEvent[] = [];
    let checkpoint: unknown;
    const soon = <T>(p: Promise<T>) =>
      Promise.race([p, new Promise<null>((r) => setTimeout(() => r(null), 100))]);
    for (let dying = false; ; ) {
      const step: IteratorResult<AgentEvent, RunResult> | null = dying
        ? await soon(first.next())
        : await first.next();
      if (!step || step.done) break;
      if (step.value.type === 'checkpoint') checkpoint = JSON.parse(JSON.stringify(step.value.state));
      else recorded.push(step.value);
      if (dying) break;
      dying = step.value.type === 'usage';
    }
    const conversationId = (checkpoint as { conversation_id: string }).conversation_id;
    await until(() => fake.conversation(conversationId)?.status === 'finished', 5_000);

    const { events } = await drain(runner.run({ ...input('Count'), resume: { checkpoint } }));
    const usage = [...recorded, ...events].filter((e) => e.type === 'usage');
    const sum = (key: 'inputTokens' | 'outputTokens') =>
      usage.reduce((n, e) => n + (e.type === 'usage' ? e[key] : 0), 0);
    expect(sum('inputTokens')).toBe(2500);
    expect(sum('outputTokens')).toBe(120);
  });

  it('after a long absence it reads back every event it missed, page by page, each once and in order', async () => {
    const look = ohAction({
      toolName: 'terminal',
      action: { kind: 'TerminalAction', command: 'ls', is_input: false, timeout: null, reset: false },
    });
    const missed = Array.from({ length: 250 }, (_, i) => ohAgentMessage(`note ${i}`));
    fake.script([look, ohObservation(look, 'hello.txt'), { sleep_ms: 300 }, ...missed, ohFinish('Done.')]);
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: KEY, llm: LLM });
    const first = runner.run(input('Take notes'));
    let checkpoint: unknown;
    while (checkpoint === undefined) {
      const step = await first.next();
      if (step.done) throw new Error('ended before its first checkpoint');
      if (step.value.type === 'checkpoint') checkpoint = JSON.parse(JSON.stringify(step.value.state));
    }
    const conversationId = (checkpoint as { conversation_id: string }).conversation_id;
    await until(() => fake.conversation(conversationId)?.status === 'finished', 5_000);

    const { events, result } = await drain(runner.run({ ...input('Take notes'), resume: { checkpoint } }));
    expect(result).toMatchObject({ success: true, result: 'Done.' });
    const notes = events.flatMap((e) => (e.type === 'message' && e.text.startsWith('note ') ? [e.text] : []));
    expect(notes).toEqual(missed.map((_, i) => `note ${i}`));
    expect(
      fake.requests.filter((r) => r.path.includes('/events/search') && r.path.includes('page_id=')).length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('runs a conversation end to end: messages, actions, observations, usage, finish', async () => {
    const look = ohAction({
      toolName: 'terminal',
      action: { kind: 'TerminalAction', command: 'ls -la', is_input: false, timeout: null, reset: false },
      thought: 'Let me look at the workspace first.',
    });
    const create = ohAction({
      toolName: 'file_editor',
      action: { kind: 'FileEditorAction', command: 'create', path: `${dir}/hello.txt`, file_text: 'hello\n' },
    });
    fake.script([
      look,
      ohObservation(look, 'total 0', { kind: 'TerminalObservation' }),
      ohStats({ model: LLM.model, promptTokens: 1000, completionTokens: 50, costUsd: 0.01 }),
      create,
      { write_file: { path: 'hello.txt', content: 'hello\n' } },
      ohObservation(create, `File created successfully at: ${dir}/hello.txt`, {
        kind: 'FileEditorObservation',
      }),
      ohStats({ model: LLM.model, promptTokens: 2500, completionTokens: 120, costUsd: 0.025 }),
      ohAgentMessage('I created hello.txt.'),
      ohFinish('Created hello.txt with a greeting.'),
    ]);
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: KEY, llm: LLM });
    const { events, result } = await drain(runner.run(input('create hello.txt')));

    expect(events.map((e) => e.type)).toEqual([
      'status',
      'message',
      'tool_call',
      'tool_result',
      'checkpoint',
      'usage',
      'checkpoint',
      'tool_call',
      'tool_result',
      'checkpoint',
      'usage',
      'checkpoint',
      'message',
      'tool_call',
      'artifact',
    ]);
    expect(events[1]).toEqual({ type: 'message', text: 'Let me look at the workspace first.' });
    expect(events[2]).toEqual({
      type: 'tool_call',
      id: look.tool_call_id,
      name: 'terminal',
      input: { command: 'ls -la', is_input: false, timeout: null, reset: false },
    });
    expect(events[3]).toEqual({ type: 'tool_result', id: look.tool_call_id, output: 'total 0' });
    expect(events[5]).toEqual({
      type: 'usage',
      inputTokens: 1000,
      outputTokens: 50,
      costUsd: 0.01,
      model: LLM.model,
      // A budget stop parks here: the conversation and the mapper as they stand.
      checkpoint: expect.objectContaining({ v: 1, conversation_id: expect.any(String) }),
    });
    expect(events[10]).toEqual({
      type: 'usage',
      inputTokens: 1500,
      outputTokens: 70,
      costUsd: 0.015,
      model: LLM.model,
      checkpoint: expect.objectContaining({ v: 1, conversation_id: expect.any(String) }),
    });
    expect(events[12]).toEqual({ type: 'message', text: 'I created hello.txt.' });
    expect(result).toMatchObject({
      success: true,
      result: 'Created hello.txt with a greeting.',
      metadata: {
        agent: 'opendevin',
        model: LLM.model,
        turns: 3,
        input_tokens: 2500,
        output_tokens: 120,
        cost_usd: 0.025,
        execution_status: 'finished',
        changed_files: ['hello.txt'],
      },
    });
    expect(await readFile(join(dir, 'hello.txt'), 'utf8')).toBe('hello\n');

    // The request shapes the agent-server expects.
    const create_ = fake.requests.find((r) => r.method === 'POST' && r.path === '/api/conversations');
    expect(create_?.body).toMatchObject({
      workspace: { working_dir: dir },
      initial_message: { role: 'user', content: [{ type: 'text', text: 'create hello.txt' }], run: false },
      agent: { kind: 'Agent', llm: { model: LLM.model, api_key: LLM.apiKey, usage_id: 'agent' } },
    });
    const id = String(result.metadata?.conversation_id);
    const order = fake.requests.map((r) => `${r.method} ${r.path}`);
    expect(order).toEqual([
      'POST /api/conversations',
      `WS /sockets/events/${id}`,
      `POST /api/conversations/${id}/run`,
    ]);
    for (const r of fake.requests) expect(r.headers['x-session-api-key']).toBe(KEY);
    await until(() => fake.openSockets === 0);
    expect(fake.paused).toEqual([]);
    expect(fake.deleted).toEqual([]);
  });

  it('on abort pauses and deletes the conversation and closes the socket, then rejects', async () => {
    fake.script([ohAgentMessage('Starting a long job.'), { sleep_ms: 60_000 }], { finalStatus: null });
    const ac = new AbortController();
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: KEY, llm: LLM });
    const stream = runner.run(input('long job', ac.signal));
    expect((await stream.next()).value).toMatchObject({ type: 'status', phase: 'running' });
    expect((await stream.next()).value).toEqual({ type: 'message', text: 'Starting a long job.' });
    const [id] = fake.conversationIds;
    expect(fake.conversation(id ?? '')?.status).toBe('running');
    expect(fake.openSockets).toBe(1);

    const started = Date.now();
    const reason = new Error('cancelled by test');
    ac.abort(reason);
    await expect(stream.next()).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(fake.paused).toEqual([id]);
    expect(fake.deleted).toEqual([id]);
    const order = fake.requests.map((r) => `${r.method} ${r.path}`);
    expect(order.indexOf(`POST /api/conversations/${id}/pause`)).toBeLessThan(
      order.indexOf(`DELETE /api/conversations/${id}`),
    );
    await until(() => fake.openSockets === 0, 2_000 - (Date.now() - started));
  });

  it('fails with the conversation error when the run ends in status error', async () => {
    fake.script([ohConversationError('LLMAuthenticationError', 'invalid x-api-key')], {
      finalStatus: 'error',
    });
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: KEY, llm: LLM });
    const { events, result } = await drain(runner.run(input('anything')));
    expect(events).toContainEqual({ type: 'error', message: 'LLMAuthenticationError: invalid x-api-key' });
    expect(result).toMatchObject({
      success: false,
      error: 'OpenHands conversation failed: LLMAuthenticationError: invalid x-api-key',
      metadata: { execution_status: 'error' },
    });
  });

  it('fails when the agent gets stuck', async () => {
    fake.script([ohAgentMessage('hmm')], { finalStatus: 'stuck' });
    const runner = new OpenHandsRunner({
      url: fake.url,
      apiKey: KEY,
      agentProfileId: '11111111-1111-4111-8111-111111111111',
    });
    const { result } = await drain(runner.run(input('loop forever')));
    expect(result).toMatchObject({ success: false, error: expect.stringContaining('stuck') });
    expect(fake.requests[0]?.body).toMatchObject({
      agent_profile_id: '11111111-1111-4111-8111-111111111111',
    });
  });

  it('says clearly that the key was rejected on 401', async () => {
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: 'wrong-key', llm: LLM });
    await expect(drain(runner.run(input('x')))).rejects.toThrow(
      /^OPENHANDS_API_KEY rejected by the agent-server$/,
    );
    expect(await probeOpenHands(fake.url, 'wrong-key')).toEqual({
      ok: false,
      reason: 'OPENHANDS_API_KEY rejected by the agent-server',
    });
    expect(await probeOpenHands(fake.url)).toEqual({
      ok: false,
      reason: 'the agent-server requires OPENHANDS_API_KEY',
    });
    expect(await probeOpenHands(fake.url, KEY)).toEqual({ ok: true });
    // The event socket names the key too when its handshake is refused.
    await expect(
      EventSocket.open(fake.url, 'any-id', 'wrong-key', new AbortController().signal),
    ).rejects.toThrow(/^OPENHANDS_API_KEY rejected by the agent-server$/);
  });

  it('throws a TransientRunnerError naming OPENHANDS_URL when the connection is refused', async () => {
    // A port that was just free: nothing listens there.
    const probe = createServer();
    await new Promise<void>((done) => probe.listen(0, '127.0.0.1', done));
    const port = (probe.address() as { port: number }).port;
    await new Promise((done) => probe.close(done));
    const url = `http://127.0.0.1:${port}`;

    const runner = new OpenHandsRunner({ url, llm: LLM });
    const err = await drain(runner.run(input('x'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientRunnerError);
    expect((err as Error).message).toContain('OPENHANDS_URL');
    expect((err as Error).message).toContain('ECONNREFUSED');
    expect(await probeOpenHands(url)).toMatchObject({
      ok: false,
      reason: expect.stringContaining('ECONNREFUSED'),
    });
  });

  it('treats a 5xx from the agent-server as transient', async () => {
    fake.failNext(503);
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: KEY, llm: LLM });
    const err = await drain(runner.run(input('x'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransientRunnerError);
    expect((err as Error).message).toMatch(/OPENHANDS_URL .* answered 503/);
  });

  it('fails without contacting the server when no agent is configured', async () => {
    const runner = new OpenHandsRunner({ url: fake.url, apiKey: KEY });
    const { result } = await drain(runner.run(input('x')));
    expect(result).toMatchObject({
      success: false,
      error: expect.stringContaining('OpenHands needs an agent'),
    });
    expect(fake.requests).toEqual([]);
  });
});
