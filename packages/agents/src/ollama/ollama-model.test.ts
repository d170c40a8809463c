import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type FakeOllama, startFakeOllama } from '../../../testing/src/fakes/ollama.ts';
import type { ToolSpec, TurnRequest } from '../loop/types.ts';
import { TransientRunnerError } from '../runner.ts';
import { createOllamaModel, listOllamaModels } from './ollama-model.ts';

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

describe('createOllamaModel against the fake Ollama server', () => {
  let fake: FakeOllama;
  beforeAll(async () => {
    fake = await startFakeOllama();
  });
  afterAll(() => fake.close());
  beforeEach(() => {
    fake.requests.length = 0;
    fake.models = ['llama3.2:latest', 'qwen2.5-coder:7b'];
  });
  const model = (name = 'llama3.2') => createOllamaModel({ host: fake.url, model: name });

  it('streams text deltas and reports eval counts as usage', async () => {
    fake.script([{ text: 'Hello from llama!', usage: { input: 21, output: 9 } }]);
    const req = request();
    const turn = await model().turn(req);
    expect(turn).toEqual({
      text: 'Hello from llama!',
      toolCalls: [],
      usage: { inputTokens: 21, outputTokens: 9 },
      stopReason: 'end',
    });
    expect(req.deltas.length).toBeGreaterThan(1);
    expect(req.deltas.join('')).toBe('Hello from llama!');
    const sent = fake.requests[0];
    expect(sent?.path).toBe('/api/chat');
    expect(sent?.body).toMatchObject({
      model: 'llama3.2',
      stream: true,
      options: { num_predict: 256 },
      messages: [
        { role: 'system', content: 'You are a test.' },
        { role: 'user', content: 'hi' },
      ],
    });
    expect(sent?.body).not.toHaveProperty('tools');
    expect(sent?.body).not.toHaveProperty('think');
  });

  it('returns tool calls with generated, stable ids', async () => {
    const script = {
      text: 'Reading.',
      toolCalls: [
        { name: 'read_file', input: { path: 'README.md' } },
        { name: 'run_command', input: { command: 'ls -la' } },
      ],
    };
    fake.script([script, script]);
    const first = await model().turn(request({ tools: TOOLS }));
    const again = await model().turn(request({ tools: TOOLS }));
    expect(first.stopReason).toBe('tool_use');
    expect(first.toolCalls.map(({ name, input }) => ({ name, input }))).toEqual([
      { name: 'read_file', input: { path: 'README.md' } },
      { name: 'run_command', input: { command: 'ls -la' } },
    ]);
    const ids = first.toolCalls.map((c) => c.id);
    expect(new Set(ids).size).toBe(2);
    expect(again.toolCalls.map((c) => c.id)).toEqual(ids);
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

  it('sends the assistant tool calls and the tool results on the next turn', async () => {
    fake.script([{ text: 'Done.' }]);
    await model().turn(
      request({
        tools: TOOLS,
        messages: [
          { role: 'user', text: 'fix it' },
          {
            role: 'assistant',
            text: 'Looking.',
            toolCalls: [
              { id: 'call_1_0', name: 'read_file', input: { path: 'a.ts' } },
              { id: 'call_1_1', name: 'run_command', input: { command: 'false' } },
            ],
          },
          {
            role: 'tool',
            results: [
              { callId: 'call_1_0', name: 'read_file', output: 'export {}', isError: false },
              { callId: 'call_1_1', name: 'run_command', output: 'exit 1', isError: true },
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
        content: 'Looking.',
        tool_calls: [
          { function: { name: 'read_file', arguments: { path: 'a.ts' } } },
          { function: { name: 'run_command', arguments: { command: 'false' } } },
        ],
      },
      { role: 'tool', content: 'export {}', tool_name: 'read_file' },
      { role: 'tool', content: 'Error: exit 1', tool_name: 'run_command' },
    ]);
  });

  it('maps done_reason length to max_tokens', async () => {
    fake.script([{ text: 'trunc', doneReason: 'length' }]);
    expect((await model().turn(request())).stopReason).toBe('max_tokens');
  });

  it('aborts mid-stream at once with the signal reason and closes the connection', async () => {
    fake.script([{ text: 'y'.repeat(400), delayMsBetweenChunks: 50 }]);
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

  it('aborts before the first byte arrives (the package cannot, its fetch follows our signal)', async () => {
    fake.script([{ hang: true }]);
    const controller = new AbortController();
    const pending = model().turn(request({ signal: controller.signal }));
    await new Promise((r) => setTimeout(r, 100));
    const before = fake.closedEarly;
    const started = performance.now();
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow('stop');
    expect(performance.now() - started).toBeLessThan(500);
    await fake.waitForClosedEarly(before + 1, 1000);
  });

  it('tells to `ollama pull` a model the host does not have', async () => {
    const error = await model('mistral-nemo')
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain('ollama pull mistral-nemo');
  });

  it.each([500, 503])('reports HTTP %i as TransientRunnerError naming the host', async (status) => {
    fake.script([{ status }]);
    const error = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain(`Ollama at ${fake.url} answered HTTP ${status}`);
  });

  it('reports a stream cut off before done as TransientRunnerError', async () => {
    fake.script([{ text: 'partial', drop: true }]);
    const error = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain(fake.url);
  });

  it('reports other 4xx as a plain error with the server message', async () => {
    fake.script([
      {
        status: 400,
        errorBody: { error: 'registry.ollama.ai/library/llama3.2:latest does not support tools' },
      },
    ]);
    const error = await model()
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).not.toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain('does not support tools');
  });

  it('reports an unreachable host as TransientRunnerError naming the host', async () => {
    const host = `http://127.0.0.1:${await closedPort()}`;
    const error = await createOllamaModel({ host, model: 'llama3.2' })
      .turn(request())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TransientRunnerError);
    expect((error as Error).message).toContain(`Ollama at ${host} does not answer`);
  });

  it('lists the installed models', async () => {
    fake.models = ['llama3.2:latest', 'qwen2.5-coder:7b', 'gemma3:1b'];
    expect(await listOllamaModels(fake.url)).toEqual(['llama3.2:latest', 'qwen2.5-coder:7b', 'gemma3:1b']);
    expect(fake.requests.at(-1)?.path).toBe('/api/tags');
  });

  it('reports an unreachable host when listing models', async () => {
    const host = `http://127.0.0.1:${await closedPort()}`;
    await expect(listOllamaModels(host)).rejects.toThrow(`Ollama at ${host} does not answer`);
    await expect(listOllamaModels(host)).rejects.toBeInstanceOf(TransientRunnerError);
  });

  it('stops listing when the caller aborts', async () => {
    const controller = new AbortController();
    const reason = new Error('gone');
    controller.abort(reason);
    await expect(listOllamaModels(fake.url, controller.signal)).rejects.toBe(reason);
  });
});
