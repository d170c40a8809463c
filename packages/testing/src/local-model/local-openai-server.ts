import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LlmCompletion, LocalLlm } from './local-llm.ts';

/**
 * An OpenAI-compatible chat-completions server in front of a real local model,
 * as llama.cpp's or Ollama's `/v1` endpoints are: it renders the conversation
 * into one prompt, samples the answer and streams it back. It never reads tool
 * calls out of the text (a random-weight model writes none), so tool definitions
 * only shape the prompt.
 */

/** What the server did for one chat request. */
export interface LocalCompletionRecord extends LlmCompletion {
  prompt: string;
}

export interface LocalOpenAIServer {
  /** Base URL including `/v1`. */
  readonly url: string;
  readonly model: string;
  /** Every answered chat request, in order. */
  readonly completions: readonly LocalCompletionRecord[];
  close(): Promise<void>;
}

export interface LocalOpenAIOptions {
  /** Caps each answer whatever the client asks for, to keep CPU runs short. Default 32. */
  maxTokensCap?: number;
  /** Sampling seed when the request gives none, so runs repeat. Default 42. */
  seed?: number;
}

type Part = { type?: string; text?: string };
type ChatMessage = {
  role?: string;
  content?: string | Part[] | null;
  tool_calls?: Array<{ function?: { name?: string; arguments?: string } }>;
};
interface ChatBody {
  model?: string;
  messages?: ChatMessage[];
  tools?: Array<{ function?: { name?: string; description?: string } }>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  max_tokens?: number;
  max_completion_tokens?: number;
  temperature?: number;
  seed?: number;
}

const contentText = (content: ChatMessage['content']) =>
  typeof content === 'string' ? content : (content ?? []).map((p) => p.text ?? '').join('');

/** A plain transcript: the model has no chat template, so any consistent layout is as good as another. */
export function renderPrompt(body: ChatBody): string {
  const lines: string[] = [];
  const tools = (body.tools ?? []).map((t) => `- ${t.function?.name}: ${t.function?.description ?? ''}`);
  if (tools.length) lines.push(`<|tools|>\n${tools.join('\n')}`);
  for (const m of body.messages ?? []) {
    const calls = (m.tool_calls ?? []).map((c) => `call ${c.function?.name}(${c.function?.arguments ?? ''})`);
    lines.push(`<|${m.role ?? 'user'}|>\n${[contentText(m.content), ...calls].filter(Boolean).join('\n')}`);
  }
  lines.push('<|assistant|>\n');
  return lines.join('\n');
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function readJson(req: IncomingMessage): Promise<ChatBody | null> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  try {
    return JSON.parse(Buffer.concat(parts).toString('utf8')) as ChatBody;
  } catch {
    return null;
  }
}

const usageOf = (c: LlmCompletion) => ({
  prompt_tokens: c.promptTokens,
  completion_tokens: c.completionTokens,
  total_tokens: c.promptTokens + c.completionTokens,
});

/**
 * Sends one answer the way the API does: with `stream`, SSE chunks as the text
 * arrives (role first, then content, then the finish reason, then usage when
 * asked for, then `[DONE]`); without, one `chat.completion` at the end.
 */
function answerWriter(
  res: ServerResponse,
  a: { id: string; model: string; stream: boolean; includeUsage: boolean },
) {
  const created = Math.floor(Date.now() / 1000);
  const base = { id: a.id, object: 'chat.completion.chunk', created, model: a.model };
  const chunk = (delta: object, finish: string | null) => ({
    ...base,
    choices: [{ index: 0, delta, finish_reason: finish }],
    // With include_usage every chunk carries `usage: null` until the last one.
    ...(a.includeUsage ? { usage: null } : {}),
  });
  const send = (data: object) => {
    if (!res.destroyed) res.write(`data: ${JSON.stringify(data)}\n\n`);
  };
  if (a.stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    send(chunk({ role: 'assistant', content: '' }, null));
  }
  return {
    text(delta: string) {
      if (a.stream) send(chunk({ content: delta }, null));
    },
    finish(done: LlmCompletion) {
      if (res.destroyed) return;
      if (!a.stream) {
        const message = { role: 'assistant', content: done.text };
        sendJson(res, 200, {
          ...base,
          object: 'chat.completion',
          choices: [{ index: 0, message, finish_reason: done.finishReason }],
          usage: usageOf(done),
        });
        return;
      }
      send(chunk({}, done.finishReason));
      if (a.includeUsage) send({ ...base, choices: [], usage: usageOf(done) });
      res.end('data: [DONE]\n\n');
    },
  };
}

/** Starts the server on a loopback port; `llm` stays the caller's to dispose. */
export async function startLocalOpenAI(
  llm: LocalLlm,
  options: LocalOpenAIOptions = {},
): Promise<LocalOpenAIServer> {
  const cap = options.maxTokensCap ?? 32;
  const completions: LocalCompletionRecord[] = [];
  let count = 0;

  async function chat(req: IncomingMessage, res: ServerResponse) {
    const body = await readJson(req);
    if (!body || !Array.isArray(body.messages)) {
      sendJson(res, 400, { error: { message: 'messages is required', type: 'invalid_request_error' } });
      return;
    }
    const prompt = renderPrompt(body);
    const maxTokens = Math.min(body.max_completion_tokens ?? body.max_tokens ?? cap, cap);
    const promptTokens = llm.countTokens(prompt);
    if (promptTokens + maxTokens > llm.contextSize) {
      sendJson(res, 400, {
        error: {
          message: `This model's maximum context length is ${llm.contextSize} tokens, but ${promptTokens + maxTokens} were requested.`,
          type: 'invalid_request_error',
          code: 'context_length_exceeded',
        },
      });
      return;
    }
    count += 1;
    const stream = body.stream === true;
    const answer = answerWriter(res, {
      id: `chatcmpl-local${count}`,
      model: llm.modelName,
      stream,
      includeUsage: stream && body.stream_options?.include_usage === true,
    });
    const aborted = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) aborted.abort();
    });
    const done = await llm.complete({
      prompt,
      maxTokens,
      temperature: body.temperature ?? 1,
      seed: body.seed ?? options.seed ?? 42,
      signal: aborted.signal,
      onText: answer.text,
    });
    completions.push({ ...done, prompt });
    answer.finish(done);
  }

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'POST' && path === '/v1/chat/completions') {
      chat(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendJson(res, 500, { error: { message: String(error), type: 'server_error' } });
        else res.destroy();
      });
      return;
    }
    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: llm.modelName, object: 'model', owned_by: 'local' }],
      });
      return;
    }
    sendJson(res, 404, { error: { message: `Unknown request URL: ${req.method} ${path}` } });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    model: llm.modelName,
    completions,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
