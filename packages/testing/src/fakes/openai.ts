import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  completion,
  errorBody,
  type FakeFinishReason,
  type FakeOpenAIToolCall,
  type FakeOpenAIUsage,
  streamChunks,
} from './openai-chunks.ts';

export type { FakeOpenAIToolCall, FakeOpenAIUsage } from './openai-chunks.ts';

/** What the fake answers to one `POST /v1/chat/completions`; each request takes the next turn. */
export interface FakeOpenAITurn {
  text?: string;
  toolCalls?: FakeOpenAIToolCall[];
  /** Default: 10 input, 5 output tokens. */
  usage?: FakeOpenAIUsage;
  /** Default: `tool_calls` when there are tool calls, else `stop`. */
  finishReason?: FakeFinishReason;
  delayMsBetweenChunks?: number;
  /** Answer with this HTTP status and `errorBody` (default: an OpenAI-style error) instead. */
  status?: number;
  errorBody?: unknown;
  /** Sent as `retry-after` with an error status; the SDK waits that long before retrying. */
  retryAfterSeconds?: number;
  /** Stream the scripted chunks, then keep the response open without finishing it. */
  hang?: boolean;
  /** Stream the scripted chunks, then cut the connection (no `[DONE]`), as a crashing server would. */
  drop?: boolean;
}

/** The request body as chat-completions clients send it (loosely typed for assertions). */
export interface FakeOpenAIChatBody {
  model?: string;
  messages?: Array<Record<string, unknown>>;
  tools?: Array<Record<string, unknown>>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [key: string]: unknown;
}

export interface FakeOpenAIRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: FakeOpenAIChatBody | null;
}

export interface FakeOpenAI {
  /** Base URL including `/v1`, as the SDK's `baseURL` expects. */
  readonly url: string;
  /** Ids listed by `GET /v1/models`. */
  models: string[];
  /** Replaces the queue of turns the next chat requests get. */
  script(turns: FakeOpenAITurn[]): void;
  readonly requests: FakeOpenAIRequest[];
  /** Chat streams the client closed before the fake finished them (scripted drops not counted). */
  readonly closedEarly: number;
  /** Resolves once `closedEarly` reaches `count` (default: one more than now). */
  waitForClosedEarly(count?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface FakeOpenAIOptions {
  /** When set, any other bearer token gets a 401 whose message quotes the token, as the real API does. */
  apiKey?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
  res.writeHead(status, {
    'content-type': 'application/json',
    'x-request-id': `req_fake_${Date.now()}`,
    ...headers,
  });
  res.end(JSON.stringify(body));
}

/** A loopback OpenAI chat-completions server, scriptable per test. */
export async function startFakeOpenAI(options: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  let queue: FakeOpenAITurn[] = [];
  const requests: FakeOpenAIRequest[] = [];
  let closedEarly = 0;
  const closeWaiters = new Set<() => void>();
  let responseCount = 0;

  const noteClosedEarly = () => {
    closedEarly += 1;
    for (const wake of closeWaiters) wake();
  };

  async function chat(res: ServerResponse, body: FakeOpenAIChatBody) {
    const turn = queue.shift();
    if (!turn) {
      // 400, not 5xx, so the SDK reports it at once instead of retrying.
      sendJson(res, 400, {
        error: { message: 'fake-openai: no scripted turn left', type: 'invalid_request_error' },
      });
      return;
    }
    if (turn.status !== undefined && turn.status !== 200) {
      const retryAfter: Record<string, string> =
        turn.retryAfterSeconds === undefined ? {} : { 'retry-after': String(turn.retryAfterSeconds) };
      sendJson(res, turn.status, turn.errorBody ?? errorBody(turn.status), retryAfter);
      return;
    }
    responseCount += 1;
    const toolCalls = turn.toolCalls ?? [];
    const plan = {
      id: `chatcmpl-fake${String(responseCount).padStart(8, '0')}`,
      model: body.model ?? 'unknown',
      text: turn.text ?? '',
      toolCalls,
      finishReason: turn.finishReason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop'),
      usage: turn.usage ?? { input: 10, output: 5 },
    } as const;

    if (body.stream !== true) {
      sendJson(res, 200, completion(plan));
      return;
    }
    let dropping = false;
    res.on('close', () => {
      if (!res.writableFinished && !dropping) noteClosedEarly();
    });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
    const chunks = streamChunks({ ...plan, includeUsage: body.stream_options?.include_usage === true });
    for (const chunk of chunks) {
      if (res.destroyed) return;
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
      if (turn.delayMsBetweenChunks) await sleep(turn.delayMsBetweenChunks);
    }
    if (turn.hang || res.destroyed) return;
    if (turn.drop) {
      dropping = true;
      res.socket?.destroy();
      return;
    }
    res.end('data: [DONE]\n\n');
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const raw = await readBody(req);
    let body: FakeOpenAIChatBody | null = null;
    if (raw) {
      try {
        body = JSON.parse(raw) as FakeOpenAIChatBody;
      } catch {
        sendJson(res, 400, { error: { message: 'We could not parse the JSON body of your request.' } });
        return;
      }
    }
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body });

    if (options.apiKey !== undefined) {
      const token = (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      if (token !== options.apiKey) {
        sendJson(res, 401, {
          error: {
            message: `Incorrect API key provided: ${token}. You can find your API key at https://platform.openai.com/account/api-keys.`,
            type: 'invalid_request_error',
            param: null,
            code: 'invalid_api_key',
          },
        });
        return;
      }
    }
    if (req.method === 'POST' && path === '/v1/chat/completions') return chat(res, body ?? {});
    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: fake.models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'fake' })),
      });
      return;
    }
    sendJson(res, 404, {
      error: { message: `Unknown request URL: ${req.method} ${path}`, type: 'invalid_request_error' },
    });
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(error), type: 'server_error' } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeOpenAI = {
    url: `http://127.0.0.1:${port}/v1`,
    models: ['gpt-4o-mini', 'gpt-5-mini'],
    script(turns) {
      queue = [...turns];
    },
    requests,
    get closedEarly() {
      return closedEarly;
    },
    waitForClosedEarly(count = closedEarly + 1, timeoutMs = 2000) {
      return new Promise<void>((resolve, reject) => {
        if (closedEarly >= count) return resolve();
        const timer = setTimeout(() => {
          closeWaiters.delete(check);
          reject(
            new Error(`fake-openai: ${closedEarly} early closes after ${timeoutMs} ms, wanted ${count}`),
          );
        }, timeoutMs);
        const check = () => {
          if (closedEarly < count) return;
          clearTimeout(timer);
          closeWaiters.delete(check);
          resolve();
        };
        closeWaiters.add(check);
      });
    },
    async close() {
      // Hanging streams would otherwise keep `server.close()` waiting forever.
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
