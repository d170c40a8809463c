import { getEventListeners } from 'node:events';
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeOpenAI, startFakeOpenAI } from '../../../testing/src/fakes/openai.ts';
import { INVALID_TOOL_ARGUMENTS } from '../loop/tool-arguments.ts';
import { ProviderAuthError, type ToolSpec, type TurnRequest } from '../loop/types.ts';
import { TransientRunnerError } from '../runner.ts';
import { createOpenAIModel } from './openai-model.ts';

const KEY = 'sk-test-secret-0123456789';
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

describe('createOpenAIModel against the fake chat-completions server', () => {
  let fake: FakeOpenAI;
  beforeAll(async () => {
    fake = await startFakeOpenAI({ apiKey: KEY });
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
  });
  const model = (name = 'gpt-4o-mini') =>
    createOpenAIModel({ apiKey: KEY, baseURL: fake.url, model: name, maxRetries: 0 });

  it('streams text deltas and reports usage from the final chunk', async () => {
    fake.script([{ text: 'Hello there, world!', usage: { input: 12, output: 7 } }]);
    const req = request();
    const turn = await model().turn(req);
    expect(turn).toEqual({
      text: 'Hello there, world!',
      toolCalls: [],
      usage: { inputTokens: 12, outputTokens: 7 },
      stopReason: 'end',
    });
    expect(req.deltas.length).toBeGreaterThan(1);
    expect(req.deltas.join('')).toBe('Hello there, world!');

    const sent = fake.requests[0];
    expect(sent?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(sent?.body).toMatchObject({
      model: 'gpt-4o-mini',
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 256,
      messages: [
        { role: 'system', content: 'You are a test.' },
        { role: 'user', content: 'hi' },
      ],
    });
    expect(sent?.body).not.toHaveProperty('tools');
    expect(sent?.body).not.toHaveProperty('reasoning_effort');
  });

  it('assembles tool calls whose arguments arrive in fragments', async () => {
    fake.script([
      {
        text: 'Let me look.',
        toolCalls: [
          { name: 'read_file', input: { path: 'src/index.ts' } },
          { name: 'run_command', input: { command: 'npm test -- --run "a b"' } },
        ],
      },
    ]);
    const turn = await model().turn(request({ tools: TOOLS }));
    expect(turn.stopReason).toBe('tool_use');
    expect(turn.text).toBe('Let me look.');
    expect(turn.toolCalls.map(({ name, input }) => ({ name, input }))).toEqual([
      { name: 'read_file', input: { path: 'src/index.ts' } },
      { name: 'run_command', input: { command: 'npm test -- --run "a b"' } },
    ]);
    expect(turn.toolCalls[0]?.id).toMatch(/^call_/);
    expect(new Set(turn.toolCalls.map((c) => c.id)).size).toBe(2);
    expect(fake.requests[0]?.body?.tools).toEqual([
      {
        type: 'function',
        function: { name: 'read_file', description: 'Read a file', parameters: TOOLS[0]?.inputSchema },
      },
      {
        type: 'function',
        function: { name: 'run_command', description: 'Run a command', parameters: TOOLS[1]?.inputSchema },
      },
    ]);
  });

  it('turns malformed tool arguments into a marked call instead of failing the turn', async () => {
    fake.script([{ toolCalls: [{ name: 'read_file', input: '{"path": "a.ts"' }] }]);
    const turn = await model().turn(request({ tools: TOOLS }));
    expect(turn.toolCalls).toHaveLength(1);
    expect(turn.toolCalls[0]?.name).toBe('read_file');
    expect(String(turn.toolCalls[0]?.input[INVALID_TOOL_ARGUMENTS])).toContain('{"path": "a.ts"');
  });

  it('sends the assistant tool calls and the tool results on the next turn', async () => {
    fake.script([{ text: 'All done.' }]);
    await model().turn(
      request({
        tools: TOOLS,
        messages: [
          { role: 'user', text: 'fix it' },
          {
            role: 'assistant',
            text: '',
            toolCalls: [
              { id: 'call_1', name: 'read_file', input: { path: 'a.ts' } },
              { id: 'call_2', name: 'run_command', input: { command: 'false' } },
            ],
          },
          {
            role: 'tool',
            results: [
              { callId: 'call_1', name: 'read_file', output: 'export {}', isError: false },
              { callId: 'call_2', name: 'run_command', output: 'exit 1', isError: true },
            ],
          },
        ],
      }),
    );
    expect(fake.requests[0]?.body?.messages).toEqual([
      { role: 'system', content: 'You are a test.' },
      { role: 'user', content: 'fix it' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'read_file', arguments: '{"path":"a.ts"}' } },
          {
            id: 'call_2',
            type: 'function',
            function: { name: 'run_command', arguments: '{"command":"false"}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'export {}' },
      { role: 'tool', tool_call_id: 'call_2', content: 'Error: exit 1' },
    ]);
  });

  it('maps thinking to reasoning_effort only for reasoning models', async () => {
    fake.script([{ text: 'a' }, { text: 'b' }]);
    await model('gpt-5-mini').turn(request({ thinking: 'high' }));
    await model('gpt-4o-mini').turn(request({ thinking: 'high' }));
    expect(fake.requests[0]?.body).toMatchObject({ reasoning_effort: 'high', max_completion_tokens: 256 });
    expect(fake.requests[0]?.body).not.toHaveProperty('max_tokens');
    expect(fake.requests[1]?.body).not.toHaveProperty('reasoning_effort');
  });

  it("leaves no listener on the run's signal after its turns", async () => {
    const controller = new AbortController();
    const m = model();
    for (let i = 0; i < 12; i++) {
      fake.script([{ text: `turn ${i}` }]);
      expect((await m.turn(request({ signal: controller.signal }))).text).toBe(`turn ${i}`);
    }
    // The SDK's listener went on the turn's own signal; one per turn piled up on the run's before.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('maps finish_reason length to max_tokens', async () => {
    fake.script([{ text: 'trunc', finishReason: 'length' }]);
    expect((await model().turn(request())).stopReason).toBe('max_tokens');
  });

  it('aborts mid-stream at once with the signal reason and closes the connection', async () => {
    fake.script([{ text: 'x'.repeat(400), delayMsBetweenChunks: 50 }]);
    const controller = new AbortController();
    const reason = new Error('cancelled by test');
    const req = request({ signal: controller.signal });
    const onText = req.onText;
    let started = 0;
    req.onText = (d) => {
      onText(d);
      if (!started) {
        started = performance.now();
        controller.abort(reason);
      }
    };
    const before = fake.closedEarly;
    await expect(model().turn(req)).rejects.toBe(reason);
    expect(performance.now() - started).toBeLessThan(500);
    await fake.waitForClosedEarly(before + 1, 1000);
  });

  it('aborts a stream that hangs without data', async () => {
    fake.script([{ hang: true }]);
    const controller = new AbortController();
    const pending = model().turn(request({ signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    const before = fake.closedEarly;
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect(performance.now() - started).toBeLessThan(500);
    await fake.waitForClosedEarly(before + 1, 1000);
  });

  it('aborts at once while the SDK waits out a Retry-After before retrying', async () => {
    fake.script([{ status: 429, retryAfterSeconds: 5 }, { text: 'late' }]);
    const m = createOpenAIModel({ apiKey: KEY, baseURL: fake.url, model: 'gpt-4o-mini', maxRetries: 2 });
    const controller = new AbortController();
    const pending = m.turn(request({ signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 150));
    expect(fake.requests).toHaveLength(1);
    const started = performance.now();
    controller.abort(new Error('cancelled while backing off'));
    await expect(pending).rejects.toThrow('cancelled while backing off');
    expect(performance.now() - started).toBeLessThan(500);
  });

  it('reports a rejected key as ProviderAuthError naming OPENAI_API_KEY, never the key', async () => {
    const wrongKey = 'sk-wrong-key-should-not-leak';
    const m = createOpenAIModel({ apiKey: wrongKey, baseURL: fake.url, model: 'gpt-4o-mini', maxRetries: 0 });
    const error = await m.turn(request()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProviderAuthError);
    expect((error as Error).message).toBe('OPENAI_API_KEY rejected by the provider (HTTP 401)');
    expect(JSON.stringify(error)).not.toContain(wrongKey);
    expect(String((error as Error).stack)).not.toContain(wrongKey);
  });

  it('reports 403 as ProviderAuthError', async () => {
    fake.script([{ status: 403 }]);
    await expect(model().turn(request())).rejects.toThrow(
      /OPENAI_API_KEY rejected by the provider \(HTTP 403\)/,
    );
  });

  it.each([429, 500, 503])('reports HTTP %i as TransientRunnerError', async (status) => {
    fake.script([{ status }]);
    const error = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain(`HTTP ${status}`);
    expect(fake.requests).toHaveLength(1);
  });

  it('lets the SDK retry a 503 when maxRetries allows', async () => {
    fake.script([{ status: 503 }, { text: 'recovered' }]);
    const m = createOpenAIModel({ apiKey: KEY, baseURL: fake.url, model: 'gpt-4o-mini', maxRetries: 1 });
    expect((await m.turn(request())).text).toBe('recovered');
    expect(fake.requests).toHaveLength(2);
  });

  it('reports other 4xx as a plain error with the provider message', async () => {
    fake.script([
      {
        status: 400,
        errorBody: { error: { message: "Invalid value for 'tools'", type: 'invalid_request_error' } },
      },
    ]);
    const error = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(TransientRunnerError);
    expect(error).not.toBeInstanceOf(ProviderAuthError);
    expect((error as Error).message).toBe(
      "OpenAI API rejected the request (HTTP 400): Invalid value for 'tools'",
    );
  });

  it('reports a stream cut off mid-answer as TransientRunnerError', async () => {
    fake.script([{ text: 'partial answer', drop: true }]);
    await expect(model().turn(request())).rejects.toBeInstanceOf(TransientRunnerError);
  });

  it('reports an unreachable server as TransientRunnerError', async () => {
    const port = await closedPort();
    const m = createOpenAIModel({
      apiKey: KEY,
      baseURL: `http://127.0.0.1:${port}/v1`,
      model: 'gpt-4o-mini',
      maxRetries: 0,
    });
    const error = await m.turn(request()).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain(`http://127.0.0.1:${port}/v1`);
  });
});
