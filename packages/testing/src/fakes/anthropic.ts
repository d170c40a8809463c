import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  errorBody,
  type FakeAnthropicToolCall,
  type FakeAnthropicUsage,
  type FakeStopReason,
  type MessagePlan,
  streamEvents,
  wholeMessage,
} from './anthropic-events.ts';
import { checkMessagesRequest } from './anthropic-validate.ts';

export type { FakeAnthropicToolCall, FakeAnthropicUsage, FakeStopReason } from './anthropic-events.ts';

/** What the fake answers to one `POST /v1/messages`; each request takes the next turn. */
export interface FakeTurn {
  text?: string;
  toolCalls?: FakeAnthropicToolCall[];
  /** A thinking block (with a signature) before the text, as extended thinking produces. */
  thinking?: string;
  /** Default: 10 input, 5 output tokens. */
  usage?: FakeAnthropicUsage;
  /** Default: `tool_use` when there are tool calls, else `end_turn`. */
  stopReason?: FakeStopReason;
  delayMsBetweenChunks?: number;
  /** Answer with this HTTP status and `errorBody` (default: an API-style error) instead. */
  status?: number;
  errorBody?: object;
  /** Stream the content blocks, then keep the response open without `message_delta`/`message_stop`. */
  hang?: boolean;
  /** Stream the content blocks, then cut the connection. */
  drop?: boolean;
  /** Stream the content blocks, then send an `event: error` (e.g. `overloaded_error`) and end. */
  streamError?: { type: string; message: string };
}

/** The request body as Messages clients send it (loosely typed for assertions). */
export interface FakeAnthropicBody {
  model?: string;
  max_tokens?: number;
  system?: unknown;
  messages?: Array<{ role: string; content: string | Array<Record<string, unknown>> }>;
  tools?: Array<Record<string, unknown>>;
  thinking?: { type: string; budget_tokens?: number };
  stream?: boolean;
  [key: string]: unknown;
}

export interface FakeAnthropicRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: FakeAnthropicBody | null;
  /** The credential received, from `x-api-key` or `Authorization: Bearer` (the SDK uses the latter). */
  apiKey: string | null;
}

export interface FakeAnthropic {
  /** Base URL without `/v1`, as the SDK's `baseURL` expects. */
  readonly url: string;
  /** Replaces the queue of turns the next message requests get. */
  script(turns: FakeTurn[]): void;
  readonly requests: FakeAnthropicRequest[];
  /** Streaming responses currently open. */
  readonly openStreams: number;
  /** Streaming responses whose connection closed before the fake finished them. */
  readonly closedEarly: number;
  /** Resolves once `closedEarly` reaches `count` (default: one more than now). */
  waitForClosedEarly(count?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface FakeAnthropicOptions {
  /** When set, any other credential gets a 401 `authentication_error`, as the real API answers. */
  apiKey?: string;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

const requestId = () => `req_fake_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json', 'request-id': requestId() });
  res.end(JSON.stringify(body));
}

function credentialOf(headers: IncomingHttpHeaders): string | null {
  const key = headers['x-api-key'];
  if (typeof key === 'string' && key) return key;
  const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '');
  return bearer?.[1] ?? null;
}

/** A loopback Anthropic Messages API server, scriptable per test. */
export async function startFakeAnthropic(options: FakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  let queue: FakeTurn[] = [];
  const requests: FakeAnthropicRequest[] = [];
  let openStreams = 0;
  let closedEarly = 0;
  const closeWaiters = new Set<() => void>();
  let responseCount = 0;

  const noteClosedEarly = () => {
    closedEarly += 1;
    for (const wake of closeWaiters) wake();
  };

  async function messages(res: ServerResponse, body: FakeAnthropicBody) {
    const invalid = checkMessagesRequest(body);
    if (invalid) {
      sendJson(res, 400, errorBody(400, invalid));
      return;
    }
    const turn = queue.shift();
    if (!turn) {
      // 400, not 5xx, so the SDK reports it at once instead of retrying.
      sendJson(res, 400, errorBody(400, 'fake-anthropic: no scripted turn left'));
      return;
    }
    if (turn.status !== undefined && turn.status !== 200) {
      sendJson(res, turn.status, turn.errorBody ?? errorBody(turn.status));
      return;
    }
    responseCount += 1;
    const toolCalls = turn.toolCalls ?? [];
    const plan: MessagePlan = {
      id: `msg_fake${String(responseCount).padStart(8, '0')}`,
      model: body.model ?? 'unknown',
      text: turn.text ?? '',
      ...(turn.thinking !== undefined ? { thinking: turn.thinking } : {}),
      toolCalls,
      stopReason: turn.stopReason ?? (toolCalls.length > 0 ? 'tool_use' : 'end_turn'),
      usage: turn.usage ?? { input: 10, output: 5 },
    };

    if (body.stream !== true) {
      sendJson(res, 200, wholeMessage(plan));
      return;
    }
    let deliberateDrop = false;
    openStreams += 1;
    res.on('close', () => {
      openStreams -= 1;
      if (!res.writableFinished && !deliberateDrop) noteClosedEarly();
    });
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      'request-id': requestId(),
    });
    const events = streamEvents(plan);
    // Interruptions happen after the content blocks, before the message is closed.
    const interrupted = turn.hang || turn.drop || turn.streamError;
    const toSend = interrupted
      ? events.filter((e) => e.event !== 'message_delta' && e.event !== 'message_stop')
      : events;
    for (const { event, data } of toSend) {
      if (res.destroyed) return;
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      if (turn.delayMsBetweenChunks) await sleep(turn.delayMsBetweenChunks);
    }
    if (res.destroyed || turn.hang) return;
    if (turn.drop) {
      deliberateDrop = true;
      res.socket?.destroy();
      return;
    }
    if (turn.streamError) {
      res.end(`event: error\ndata: ${JSON.stringify({ type: 'error', error: turn.streamError })}\n\n`);
      return;
    }
    res.end();
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const raw = await readBody(req);
    let body: FakeAnthropicBody | null = null;
    if (raw) {
      try {
        body = JSON.parse(raw) as FakeAnthropicBody;
      } catch {
        sendJson(res, 400, errorBody(400, 'There was an issue with your request body: invalid JSON'));
        return;
      }
    }
    const apiKey = credentialOf(req.headers);
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body, apiKey });

    if (apiKey === null) {
      sendJson(res, 401, errorBody(401, 'x-api-key header is required'));
      return;
    }
    if (options.apiKey !== undefined && apiKey !== options.apiKey) {
      sendJson(res, 401, errorBody(401));
      return;
    }
    if (req.method === 'POST' && path === '/v1/messages') return messages(res, body ?? {});
    sendJson(res, 404, errorBody(404, `Not found: ${req.method} ${path}`));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, errorBody(500, String(error)));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    script(turns) {
      queue = [...turns];
    },
    requests,
    get openStreams() {
      return openStreams;
    },
    get closedEarly() {
      return closedEarly;
    },
    waitForClosedEarly(count = closedEarly + 1, timeoutMs = 2000) {
      return new Promise<void>((resolve, reject) => {
        if (closedEarly >= count) return resolve();
        const timer = setTimeout(() => {
          closeWaiters.delete(check);
          reject(
            new Error(`fake-anthropic: ${closedEarly} early closes after ${timeoutMs} ms, wanted ${count}`),
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
}
