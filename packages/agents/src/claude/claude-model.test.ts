import { createServer } from 'node:net';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../../../testing/src/fakes/anthropic.ts';
import { type LoopMessage, ProviderAuthError, type ToolSpec, type TurnRequest } from '../loop/types.ts';
import { TransientRunnerError } from '../runner.ts';
import { toAnthropicMessages } from './claude-messages.ts';
import { createClaudeModel } from './claude-model.ts';

const KEY = 'sk-ant-test-secret-0123456789';
const TOOLS: ToolSpec[] = [
  {
    name: 'read_file',
    description: 'Read a file',
    inputSchema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  },
  {
    name: 'run_command',
    description: 'Run a command',
    inputSchema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
  },
];

function request(overrides: Partial<TurnRequest> = {}): TurnRequest & { deltas: string[] } {
  const deltas: string[] = [];
  return {
    system: 'You are a test.',
    messages: [{ role: 'user', text: 'hi' }],
    tools: [],
    maxTokens: 256,
    signal: new AbortController().signal,
    onText: (d) => deltas.push(d),
    deltas,
    ...overrides,
  };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('createClaudeModel against the fake Messages API', () => {
  let fake: FakeAnthropic;
  beforeAll(async () => {
    fake = await startFakeAnthropic({ apiKey: KEY });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
  });
  const model = (extra: { maxRetries?: number; apiKey?: string; streamIdleTimeoutMs?: number } = {}) =>
    createClaudeModel({
      apiKey: KEY,
      baseURL: fake.url,
      model: 'claude-sonnet-5-5',
      maxRetries: 0,
      ...extra,
    });
  const lastBody = () => fake.requests.at(-1)?.body;

  it('streams text deltas in order and reports usage from message_start and message_delta', async () => {
    fake.script([{ text: 'Hello there, world!', usage: { input: 12, output: 7 } }]);
    const req = request();
    const turn = await model().turn(req);

    expect(req.deltas.length).toBeGreaterThan(2);
    expect(req.deltas.join('')).toBe('Hello there, world!');
    expect(turn).toEqual({
      text: 'Hello there, world!',
      toolCalls: [],
      usage: { inputTokens: 12, outputTokens: 7 },
      stopReason: 'end',
    });
    const body = lastBody();
    expect(body).toMatchObject({
      model: 'claude-sonnet-5-5',
      stream: true,
      max_tokens: 256,
      system: 'You are a test.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }],
    });
    expect(body?.tools).toBeUndefined();
    expect(body?.thinking).toBeUndefined();
  });

  it('sends the key to the provider in the header the SDK uses', async () => {
    fake.script([{ text: 'ok' }]);
    await model().turn(request());
    const received = fake.requests.at(-1);
    expect(received?.apiKey).toBe(KEY);
    // @anthropic-ai/sdk 1.10 sends the key as a bearer token, not as `x-api-key`.
    expect(received?.headers['x-api-key'] ?? received?.headers.authorization).toMatch(
      new RegExp(`(Bearer )?${KEY}$`),
    );
    expect(received?.headers['anthropic-version']).toBeTruthy();
  });

  it('returns tool_use blocks as tool calls with their streamed input parsed', async () => {
    fake.script([
      {
        text: 'Let me look.',
        toolCalls: [
          { name: 'read_file', input: { path: 'src/index.ts' } },
          { name: 'run_command', input: { command: 'npm test -- --run "a b"' } },
        ],
        usage: { input: 40, output: 22 },
      },
    ]);
    const req = request({ tools: TOOLS });
    const turn = await model().turn(req);

    expect(turn.stopReason).toBe('tool_use');
    expect(turn.text).toBe('Let me look.');
    expect(turn.toolCalls.map(({ name, input }) => ({ name, input }))).toEqual([
      { name: 'read_file', input: { path: 'src/index.ts' } },
      { name: 'run_command', input: { command: 'npm test -- --run "a b"' } },
    ]);
    expect(turn.toolCalls[0]?.id).toMatch(/^toolu_/);
    expect(new Set(turn.toolCalls.map((c) => c.id)).size).toBe(2);
    expect(turn.usage).toEqual({ inputTokens: 40, outputTokens: 22 });
    expect(lastBody()?.tools).toEqual([
      {
        name: 'read_file',
        description: 'Read a file',
        input_schema: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
      },
      {
        name: 'run_command',
        description: 'Run a command',
        input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
      },
    ]);
  });

  it('sends the assistant tool_use blocks and a user message of tool_result blocks on the next turn', async () => {
    fake.script([
      {
        toolCalls: [
          { name: 'read_file', input: { path: 'a.ts' } },
          { name: 'run_command', input: { command: 'false' } },
        ],
      },
      { text: 'Done.' },
    ]);
    const m = model();
    const first = await m.turn(request({ tools: TOOLS }));
    const [read, run] = first.toolCalls;
    if (!read || !run) throw new Error('expected two tool calls');
    const messages: LoopMessage[] = [
      { role: 'user', text: 'fix it' },
      { role: 'assistant', text: first.text, toolCalls: first.toolCalls },
      {
        role: 'tool',
        results: [
          { callId: read.id, name: 'read_file', output: 'export const a = 1;', isError: false },
          { callId: run.id, name: 'run_command', output: '', isError: true },
        ],
      },
    ];
    const second = await m.turn(request({ tools: TOOLS, messages }));
    expect(second.text).toBe('Done.');
    expect(second.stopReason).toBe('end');

    expect(lastBody()?.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'fix it' }] },
      {
        role: 'assistant',
        // No text block: the first answer had no text, and the API refuses empty ones.
        content: [
          { type: 'tool_use', id: read.id, name: 'read_file', input: { path: 'a.ts' } },
          { type: 'tool_use', id: run.id, name: 'run_command', input: { command: 'false' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: read.id, content: 'export const a = 1;', is_error: false },
          { type: 'tool_result', tool_use_id: run.id, content: '(no output)', is_error: true },
        ],
      },
    ]);
  });

  it('maps max_tokens and turns malformed tool input into a marked call', async () => {
    fake.script([
      { text: 'cut', toolCalls: [{ name: 'read_file', input: '{"path": "a.ts' }], stopReason: 'max_tokens' },
    ]);
    const turn = await model().turn(request({ tools: TOOLS }));
    expect(turn.stopReason).toBe('max_tokens');
    expect(JSON.stringify(turn.toolCalls[0]?.input)).toContain('not a valid JSON object');
  });

  it('sends thinking low/medium/high as an extended-thinking budget with max_tokens above it', async () => {
    fake.script([
      { thinking: 'hmm, let me think', text: 'Answer.' },
      { text: 'b' },
      { text: 'c' },
      { text: 'd' },
    ]);
    const req = request({ thinking: 'high' });
    const turn = await model().turn(req);
    expect(lastBody()?.thinking).toEqual({ type: 'enabled', budget_tokens: 16_384 });
    expect(lastBody()?.max_tokens).toBe(16_384 + 256);
    // Thinking is never shown as the answer.
    expect(turn.text).toBe('Answer.');
    expect(req.deltas.join('')).toBe('Answer.');

    await model().turn(request({ thinking: 'medium' }));
    expect(lastBody()?.thinking).toEqual({ type: 'enabled', budget_tokens: 4096 });
    await model().turn(request({ thinking: 'low' }));
    expect(lastBody()?.thinking).toEqual({ type: 'enabled', budget_tokens: 1024 });
    expect(lastBody()?.max_tokens).toBe(1024 + 256);
    await model().turn(request({ thinking: 'off' }));
    expect(lastBody()?.thinking).toBeUndefined();
    expect(lastBody()?.max_tokens).toBe(256);
  });

  it('sends the thinking blocks back with the tool results, as the API requires with thinking on', async () => {
    fake.script([
      {
        thinking: 'I should read the file first.',
        toolCalls: [{ name: 'read_file', input: { path: 'a.ts' } }],
      },
      { text: 'All good.' },
      // Another model instance (e.g. after a restart) cannot replay them: thinking waits for the next prompt.
      { text: 'Still good.' },
    ]);
    const m = model();
    const first = await m.turn(request({ tools: TOOLS, thinking: 'high' }));
    const [call] = first.toolCalls;
    if (!call) throw new Error('expected a tool call');
    const messages: LoopMessage[] = [
      { role: 'user', text: 'check a.ts' },
      { role: 'assistant', text: first.text, toolCalls: first.toolCalls },
      { role: 'tool', results: [{ callId: call.id, name: 'read_file', output: 'ok', isError: false }] },
    ];
    const second = await m.turn(request({ tools: TOOLS, thinking: 'high', messages }));
    expect(second.text).toBe('All good.');
    const body = lastBody();
    expect(body?.thinking).toEqual({ type: 'enabled', budget_tokens: 16_384 });
    const assistant = body?.messages?.[1]?.content;
    if (!Array.isArray(assistant)) throw new Error('expected block content');
    expect(assistant[0]).toMatchObject({ type: 'thinking', thinking: 'I should read the file first.' });
    expect(String(assistant[0]?.signature)).not.toBe('');
    expect(assistant[1]).toMatchObject({ type: 'tool_use', id: call.id });

    const third = await model().turn(request({ tools: TOOLS, thinking: 'high', messages }));
    expect(third.text).toBe('Still good.');
    expect(lastBody()?.thinking).toBeUndefined();
  });

  it('aborts mid-stream within 500 ms with the signal reason and the fake sees the stream closed', async () => {
    fake.script([{ text: 'x'.repeat(400), delayMsBetweenChunks: 30, hang: true }]);
    const controller = new AbortController();
    const reason = new Error('cancelled by test');
    const req = request({
      signal: controller.signal,
      onText: () => {
        if (!controller.signal.aborted) setTimeout(() => controller.abort(reason), 20);
      },
    });
    const closed = fake.waitForClosedEarly();
    const started = Date.now();
    const pending = model().turn(req);
    await expect(pending).rejects.toBe(reason);
    const elapsed = Date.now() - started;
    expect(elapsed).toBeLessThan(500);
    await closed;
    expect(fake.openStreams).toBe(0);
  });

  it('aborts a stream that hangs without sending anything more', async () => {
    fake.script([{ hang: true }]);
    const controller = new AbortController();
    const pending = model().turn(request({ signal: controller.signal }));
    const closed = fake.waitForClosedEarly();
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect(Date.now() - started).toBeLessThan(500);
    await closed;
  });

  it('gives up a stream that goes silent as a TransientRunnerError', async () => {
    fake.script([{ text: 'partial', hang: true }]);
    const closed = fake.waitForClosedEarly();
    const pending = model({ streamIdleTimeoutMs: 200 }).turn(request());
    await expect(pending).rejects.toBeInstanceOf(TransientRunnerError);
    await expect(pending).rejects.toThrow(/sent nothing for 200 ms/);
    await closed;
  });

  it('reports a rejected key as ProviderAuthError naming ANTHROPIC_API_KEY, never the key', async () => {
    const wrongKey = 'sk-ant-wrong-key-987654321';
    const bad = createClaudeModel({
      apiKey: wrongKey,
      baseURL: fake.url,
      model: 'claude-sonnet-5-5',
      maxRetries: 0,
    });
    const error = await bad.turn(request()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderAuthError);
    expect((error as Error).message).toBe('ANTHROPIC_API_KEY rejected by the provider (HTTP 401)');
    expect((error as Error).message).not.toContain(wrongKey);
    expect(fake.requests.at(-1)?.apiKey).toBe(wrongKey);

    // A gateway that quotes the key back still does not get it into our error.
    fake.script([
      {
        status: 401,
        errorBody: { type: 'error', error: { type: 'authentication_error', message: `bad key ${KEY}` } },
      },
    ]);
    const quoted = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(quoted).toBeInstanceOf(ProviderAuthError);
    expect(String((quoted as Error).message)).not.toContain(KEY);
  });

  it('reports 403 as ProviderAuthError', async () => {
    fake.script([{ status: 403 }]);
    await expect(model().turn(request())).rejects.toThrow(
      new ProviderAuthError('ANTHROPIC_API_KEY rejected by the provider (HTTP 403)'),
    );
  });

  it.each([529, 500, 429])('reports HTTP %i as TransientRunnerError', async (status) => {
    fake.script([{ status }]);
    const error = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain(`HTTP ${status}`);
    expect(fake.requests).toHaveLength(1);
  });

  it('lets the SDK retry a 529 when maxRetries allows', async () => {
    fake.script([{ status: 529 }, { text: 'recovered' }]);
    const turn = await model({ maxRetries: 1 }).turn(request());
    expect(turn.text).toBe('recovered');
    expect(fake.requests).toHaveLength(2);
  });

  it('reports other 4xx as a plain error with the provider message', async () => {
    fake.script([
      {
        status: 400,
        errorBody: { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long' } },
      },
    ]);
    const error = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TransientRunnerError);
    expect(error).not.toBeInstanceOf(ProviderAuthError);
    expect((error as Error).message).toContain('HTTP 400');
    expect((error as Error).message).toContain('prompt is too long');
  });

  it('reports a stream cut off mid-answer as TransientRunnerError', async () => {
    fake.script([{ text: 'half an answ', drop: true }]);
    await expect(model().turn(request())).rejects.toBeInstanceOf(TransientRunnerError);
  });

  it('reports an overloaded_error event inside the stream as TransientRunnerError', async () => {
    fake.script([{ text: 'part', streamError: { type: 'overloaded_error', message: 'Overloaded' } }]);
    const error = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain('Overloaded');
  });

  it('reports an unreachable server as TransientRunnerError', async () => {
    const port = await closedPort();
    const m = createClaudeModel({
      apiKey: KEY,
      baseURL: `http://127.0.0.1:${port}`,
      model: 'x',
      maxRetries: 0,
    });
    const error = await m.turn(request()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('answers non-streaming requests with a whole message the SDK parses', async () => {
    fake.script([{ text: 'whole', toolCalls: [{ name: 'read_file', input: { path: 'b.ts' } }] }]);
    const client = new Anthropic({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 });
    const message = await client.messages.create({
      model: 'claude-sonnet-5-5',
      max_tokens: 64,
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(message.stop_reason).toBe('tool_use');
    expect(message.content).toEqual([
      { type: 'text', text: 'whole', citations: null },
      expect.objectContaining({ type: 'tool_use', name: 'read_file', input: { path: 'b.ts' } }),
    ]);
    expect(message.usage.output_tokens).toBe(5);
  });

  it('makes the fake refuse a tool-use continuation without its thinking blocks, as the API does', async () => {
    fake.script([{ text: 'never sent' }]);
    const client = new Anthropic({ apiKey: KEY, baseURL: fake.url, maxRetries: 0 });
    const attempt = client.messages.create({
      model: 'claude-sonnet-5-5',
      max_tokens: 2048,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      messages: [
        { role: 'user', content: 'go' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'read_file', input: {} }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'x' }] },
      ],
    });
    await expect(attempt).rejects.toThrow(/Expected `thinking` or `redacted_thinking`/);
  });
});

describe('toAnthropicMessages', () => {
  it('merges tool results and a following prompt into one user message, results first', () => {
    const messages: LoopMessage[] = [
      { role: 'user', text: 'go' },
      { role: 'assistant', text: '', toolCalls: [{ id: 't1', name: 'read_file', input: {} }] },
      { role: 'tool', results: [{ callId: 't1', name: 'read_file', output: 'x', isError: false }] },
      { role: 'user', text: 'please finish' },
    ];
    expect(toAnthropicMessages(messages)).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'go' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'read_file', input: {} }] },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 't1', content: 'x', is_error: false },
          { type: 'text', text: 'please finish' },
        ],
      },
    ]);
  });
});
