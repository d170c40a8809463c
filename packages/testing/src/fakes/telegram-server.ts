/** The fake's HTTP side: routing, the call log, failure injection, outages and long polling. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { METHODS, type MethodContext, type Outcome } from './telegram-methods.ts';
import type { TelegramStore } from './telegram-store.ts';
import { type FakeTelegramCall, TelegramApiError } from './telegram-types.ts';
import { WebhookPump, type WebhookRetryOptions } from './telegram-webhook.ts';
import { envelope, Params, parseParams, readBody } from './telegram-wire.ts';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
};

const WEBHOOK_ACTIVE =
  "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first";
const TERMINATED =
  'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running';

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

interface Held {
  res: ServerResponse;
  call: FakeTelegramCall;
  limit: number;
  timer: NodeJS.Timeout;
}

interface RateLimit {
  method?: string;
  chatId?: string;
  remaining: number;
  retryAfter: number;
}

interface Failure {
  method: string;
  status: number;
  description?: string;
  body?: string;
  remaining: number;
}

export class TelegramHttp {
  readonly calls: FakeTelegramCall[] = [];
  readonly webhook: WebhookPump;
  url = '';
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly limits: RateLimit[] = [];
  private readonly failures: Failure[] = [];
  private readonly ctx: MethodContext;
  private held: Held | undefined;
  private down = false;
  private closed = false;

  constructor(
    private readonly token: string,
    private readonly store: TelegramStore,
    private readonly maxPollSeconds: number,
    retry: WebhookRetryOptions,
  ) {
    this.webhook = new WebhookPump(
      store,
      retry,
      () => this.down || this.closed,
      async (method, params) => {
        const call: FakeTelegramCall = { method, params, status: 0, at: Date.now(), viaWebhookReply: true };
        this.calls.push(call);
        this.settle(call, this.run(method, new Params(params)));
      },
    );
    this.ctx = { store, webhook: this.webhook, endPolling: (outcome) => this.endPolling(outcome) };
    store.onQueued = () => {
      if (this.held && !this.down) this.endPolling({ result: store.queue.slice(0, this.held.limit) });
      this.webhook.kick();
    };
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (res.headersSent) res.destroy();
        else this.reply(res, undefined, new TelegramApiError(500, `Internal Server Error: ${error}`));
      });
    });
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  rateLimit(opts: { method?: string; chatId?: number | string; times: number; retryAfter: number }): void {
    this.limits.push({
      ...(opts.method ? { method: opts.method.toLowerCase() } : {}),
      ...(opts.chatId !== undefined ? { chatId: String(opts.chatId) } : {}),
      remaining: opts.times,
      // The Bot API's retry_after is a whole number of seconds.
      retryAfter: Math.max(1, Math.round(opts.retryAfter)),
    });
  }

  failNext(
    method: string,
    opts: { status: number; description?: string; times?: number; body?: string },
  ): void {
    const { status, description, body, times = 1 } = opts;
    this.failures.push({
      method: method === '*' ? '*' : method.toLowerCase(),
      status,
      description,
      body,
      remaining: times,
    });
  }

  setDown(down: boolean): void {
    this.down = down;
    if (!down) {
      this.webhook.kick();
      return;
    }
    const held = this.held;
    if (held) {
      this.held = undefined;
      clearTimeout(held.timer);
      held.res.socket?.destroy();
    }
    this.webhook.stop();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.endPolling({ result: [] });
    this.webhook.stop();
    const stopped = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    for (const socket of this.sockets) socket.destroy();
    await stopped;
  }

  private settle(call: FakeTelegramCall, outcome: Outcome | TelegramApiError) {
    const answer = envelope(outcome);
    call.status = answer.status;
    if (outcome instanceof TelegramApiError) call.error = outcome.description;
    return answer;
  }

  private reply(
    res: ServerResponse,
    call: FakeTelegramCall | undefined,
    outcome: Outcome | TelegramApiError,
  ) {
    const answer = call ? this.settle(call, outcome) : envelope(outcome);
    if (res.destroyed || res.headersSent) return;
    const body = JSON.stringify(answer.body);
    res.writeHead(answer.status, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  }

  /** Answers the held getUpdates, if any. */
  private endPolling(outcome: Outcome | TelegramApiError): void {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    clearTimeout(held.timer);
    this.reply(held.res, held.call, outcome);
  }

  private run(method: string, p: Params): Outcome | TelegramApiError {
    const found = METHODS[method.toLowerCase()];
    if (!found) return new TelegramApiError(404, 'Not Found');
    try {
      return found.handle(p, this.ctx);
    } catch (error) {
      if (error instanceof TelegramApiError) return error;
      return new TelegramApiError(500, `Internal Server Error: ${String(error)}`);
    }
  }

  private getUpdates(p: Params, res: ServerResponse, call: FakeTelegramCall): void {
    if (this.webhook.info) throw new TelegramApiError(409, WEBHOOK_ACTIVE);
    const limit = clamp(p.int('limit') ?? 100, 1, 100);
    const timeout = clamp(p.int('timeout') ?? 0, 0, this.maxPollSeconds);
    const allowed = p.json('allowed_updates', "can't parse allowed updates JSON object");
    if (Array.isArray(allowed)) this.store.allowedUpdates = allowed.map(String);
    const offset = p.int('offset');
    if (offset !== undefined) this.store.confirm(offset);
    // Telegram answers the older of two concurrent polls with a 409.
    this.endPolling(new TelegramApiError(409, TERMINATED));
    const ready = this.store.queue.slice(0, limit);
    if (ready.length > 0 || timeout === 0 || this.closed) {
      this.reply(res, call, { result: ready });
      return;
    }
    const timer = setTimeout(() => this.endPolling({ result: [] }), timeout * 1000);
    this.held = { res, call, limit, timer };
    res.on('close', () => {
      if (this.held?.res !== res) return;
      clearTimeout(this.held.timer);
      this.held = undefined;
    });
  }

  /** A scripted 429 or failure for this call, if one matches (and counts it down). */
  private injected(lower: string, params: Record<string, unknown>): TelegramApiError | Failure | null {
    const limit = this.limits.find(
      (l) =>
        (l.method === undefined || l.method === lower) &&
        (l.chatId === undefined || String(params.chat_id ?? '') === l.chatId),
    );
    if (limit) {
      limit.remaining -= 1;
      if (limit.remaining <= 0) this.limits.splice(this.limits.indexOf(limit), 1);
      return new TelegramApiError(429, `Too Many Requests: retry after ${limit.retryAfter}`, {
        retry_after: limit.retryAfter,
      });
    }
    const failure = this.failures.find((f) => f.method === '*' || f.method === lower);
    if (!failure) return null;
    failure.remaining -= 1;
    if (failure.remaining <= 0) this.failures.splice(this.failures.indexOf(failure), 1);
    if (failure.body !== undefined) return failure;
    const description = failure.description ?? DESCRIPTIONS[failure.status] ?? 'Error';
    return new TelegramApiError(failure.status, description);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const target = new URL(req.url ?? '/', 'http://127.0.0.1');
    const path = /^\/bot([^/]*)\/(?:test\/)?([^/]+)\/?$/.exec(target.pathname);
    const body = await readBody(req);
    if (this.down) {
      this.calls.push({ method: path?.[2] ?? target.pathname, params: {}, status: 0, at: Date.now() });
      req.socket.destroy();
      return;
    }
    if (!path) return this.reply(res, undefined, new TelegramApiError(404, 'Not Found'));
    const [, token = '', given = ''] = path;
    const lower = given.toLowerCase();
    const call: FakeTelegramCall = {
      method: METHODS[lower]?.name ?? given,
      params: {},
      status: 0,
      at: Date.now(),
    };
    this.calls.push(call);
    if (token !== this.token) return this.reply(res, call, new TelegramApiError(401, 'Unauthorized'));
    try {
      call.params = parseParams(req, target, body);
      const failure = this.injected(lower, call.params);
      if (failure instanceof TelegramApiError) throw failure;
      if (failure) {
        call.status = failure.status;
        res.writeHead(failure.status, { 'content-type': 'text/html' });
        res.end(failure.body);
        return;
      }
      const p = new Params(call.params);
      if (lower === 'getupdates') this.getUpdates(p, res, call);
      else this.reply(res, call, this.run(given, p));
    } catch (error) {
      if (!(error instanceof TelegramApiError)) throw error;
      this.reply(res, call, error);
    }
  }
}
