import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the fake answers to one `POST /api/chat`; each request takes the next turn. */
export interface FakeOllamaTurn {
  text?: string;
  /** Sent in one message before `done`, arguments as objects and without ids, as Ollama does. */
  toolCalls?: { name: string; input: Record<string, unknown> }[];
  /** Default: 10 prompt, 5 eval tokens. */
  usage?: { input: number; output: number };
  /** Default `stop`. */
  doneReason?: 'stop' | 'length' | 'load';
  delayMsBetweenChunks?: number;
  /** Answer with this HTTP status and `errorBody` (default `{ error }` as Ollama sends) instead. */
  status?: number;
  errorBody?: unknown;
  /** Stream the scripted chunks, then keep the response open without `done`. */
  hang?: boolean;
  /** Stream the scripted chunks, then cut the connection (no `done`), as a crashing server would. */
  drop?: boolean;
}

export interface FakeOllamaChatBody {
  model?: string;
  messages?: Array<Record<string, unknown>>;
  tools?: Array<Record<string, unknown>>;
  stream?: boolean;
  options?: Record<string, unknown>;
  [key: string]: unknown;
}

export interface FakeOllamaRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: FakeOllamaChatBody | null;
}

export interface FakeOllama {
  /** e.g. `http://127.0.0.1:40123`, as `OLLAMA_HOST` / the SDK's `host` take it. */
  readonly url: string;
  /**
   * Installed models, listed by `/api/tags`; a chat for any other model gets
   * Ollama's 404 "not found, try pulling it first". `llama3.2` matches `llama3.2:latest`.
   */
  models: string[];
  script(turns: FakeOllamaTurn[]): void;
  readonly requests: FakeOllamaRequest[];
  /** Chat streams the client closed before the fake finished them (scripted drops not counted). */
  readonly closedEarly: number;
  waitForClosedEarly(count?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/** Content pieces this many characters long, so clients see several. */
const TEXT_PIECE = 4;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const withTag = (name: string) => (name.includes(':') ? name : `${name}:latest`);

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function sendJson(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function modelEntry(name: string) {
  return {
    name,
    model: name,
    modified_at: '2025-01-01T00:00:00Z',
    size: 2_019_393_189,
    digest: `fake${name.replace(/[^a-z0-9]/gi, '')}`.padEnd(64, '0').slice(0, 64),
    details: {
      parent_model: '',
      format: 'gguf',
      family: 'llama',
      families: ['llama'],
      parameter_size: '3.2B',
      quantization_level: 'Q4_K_M',
    },
  };
}

/** A loopback Ollama server (`/api/chat` NDJSON, `/api/tags`, `/api/version`), scriptable per test. */
export async function startFakeOllama(): Promise<FakeOllama> {
  let queue: FakeOllamaTurn[] = [];
  const requests: FakeOllamaRequest[] = [];
  let closedEarly = 0;
  const closeWaiters = new Set<() => void>();

  const noteClosedEarly = () => {
    closedEarly += 1;
    for (const wake of closeWaiters) wake();
  };

  async function chat(res: ServerResponse, body: FakeOllamaChatBody) {
    const model = body.model ?? '';
    if (!fake.models.some((m) => withTag(m) === withTag(model))) {
      sendJson(res, 404, { error: `model "${model}" not found, try pulling it first` });
      return;
    }
    const turn = queue.shift();
    if (!turn) {
      sendJson(res, 400, { error: 'fake-ollama: no scripted turn left' });
      return;
    }
    if (turn.status !== undefined && turn.status !== 200) {
      sendJson(res, turn.status, turn.errorBody ?? { error: `fake-ollama: scripted HTTP ${turn.status}` });
      return;
    }
    const text = turn.text ?? '';
    const toolCalls = (turn.toolCalls ?? []).map((c) => ({ function: { name: c.name, arguments: c.input } }));
    const usage = turn.usage ?? { input: 10, output: 5 };
    const createdAt = () => new Date().toISOString();
    const final = {
      model,
      created_at: createdAt(),
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: turn.doneReason ?? 'stop',
      total_duration: 1_000_000,
      load_duration: 100_000,
      prompt_eval_count: usage.input,
      prompt_eval_duration: 200_000,
      eval_count: usage.output,
      eval_duration: 700_000,
    };

    // Ollama streams unless the request says `stream: false`.
    if (body.stream === false) {
      sendJson(res, 200, {
        ...final,
        message: {
          role: 'assistant',
          content: text,
          ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
        },
      });
      return;
    }
    let dropping = false;
    res.on('close', () => {
      if (!res.writableFinished && !dropping) noteClosedEarly();
    });
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    const lines: object[] = [];
    for (let i = 0; i < text.length; i += TEXT_PIECE) {
      lines.push({
        model,
        created_at: createdAt(),
        message: { role: 'assistant', content: text.slice(i, i + TEXT_PIECE) },
        done: false,
      });
    }
    if (toolCalls.length > 0) {
      lines.push({
        model,
        created_at: createdAt(),
        message: { role: 'assistant', content: '', tool_calls: toolCalls },
        done: false,
      });
    }
    for (const line of lines) {
      if (res.destroyed) return;
      res.write(`${JSON.stringify(line)}\n`);
      if (turn.delayMsBetweenChunks) await sleep(turn.delayMsBetweenChunks);
    }
    if (turn.hang || res.destroyed) return;
    if (turn.drop) {
      dropping = true;
      res.socket?.destroy();
      return;
    }
    res.end(`${JSON.stringify({ ...final, created_at: createdAt() })}\n`);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const raw = await readBody(req);
    let body: FakeOllamaChatBody | null = null;
    if (raw) {
      try {
        body = JSON.parse(raw) as FakeOllamaChatBody;
      } catch {
        sendJson(res, 400, { error: 'invalid character in JSON body' });
        return;
      }
    }
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers, body });
    if (req.method === 'POST' && path === '/api/chat') return chat(res, body ?? {});
    if (req.method === 'GET' && path === '/api/tags')
      return sendJson(res, 200, { models: fake.models.map(modelEntry) });
    if (req.method === 'GET' && path === '/api/version') return sendJson(res, 200, { version: '0.12.6' });
    if (req.method === 'GET' && path === '/') {
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Ollama is running');
      return;
    }
    // Ollama's router answers unknown paths with a plain-text 404.
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('404 page not found');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: String(error) });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeOllama = {
    url: `http://127.0.0.1:${port}`,
    models: ['llama3.2:latest', 'qwen2.5-coder:7b'],
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
            new Error(`fake-ollama: ${closedEarly} early closes after ${timeoutMs} ms, wanted ${count}`),
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
