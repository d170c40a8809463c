/** Delivers queued updates to the webhook one at a time, in order, retrying failures with backoff. */
import { type ClientRequest, request as httpRequest, STATUS_CODES } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TelegramStore } from './telegram-store.ts';
import { type FakeWebhookDelivery, type FakeWebhookInfo, nowSeconds } from './telegram-types.ts';

export interface WebhookRetryOptions {
  /** First wait after a failed delivery (default 100 ms); doubles per failure up to `maxMs`. */
  initialMs?: number;
  /** Longest wait between attempts (default 1000 ms). */
  maxMs?: number;
  /** How long a delivery may take before it counts as failed (default 30 s). */
  timeoutMs?: number;
}

export interface PostResult {
  status: number;
  body: string;
  contentType: string;
  error?: string;
}

export const SECRET_HEADER = 'X-Telegram-Bot-Api-Secret-Token';

/** POSTs a JSON body; never rejects (a transport failure is `status: 0` with `error`). */
export function postJson(
  url: string,
  body: string,
  secret: string | undefined,
  timeoutMs: number,
  track?: (req: ClientRequest | undefined) => void,
): Promise<PostResult> {
  return new Promise((resolve) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      resolve({ status: 0, body: '', contentType: '', error: 'Bad webhook URL' });
      return;
    }
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    const headers: Record<string, string | number> = {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
    };
    if (secret !== undefined) headers[SECRET_HEADER] = secret;
    const req = send(target, { method: 'POST', headers, agent: false }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (part: Buffer) => parts.push(part));
      res.on('error', (error) => finish({ status: 0, body: '', contentType: '', error: error.message }));
      res.on('end', () =>
        finish({
          status: res.statusCode ?? 0,
          body: Buffer.concat(parts).toString('utf8'),
          contentType: String(res.headers['content-type'] ?? ''),
        }),
      );
    });
    let done = false;
    const finish = (result: PostResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      track?.(undefined);
      resolve(result);
    };
    const timer = setTimeout(() => {
      finish({ status: 0, body: '', contentType: '', error: 'Read timeout expired' });
      req.destroy();
    }, timeoutMs);
    req.on('error', (error: NodeJS.ErrnoException) => {
      const message = error.code === 'ECONNREFUSED' ? 'Connection refused' : error.message;
      finish({ status: 0, body: '', contentType: '', error: message });
    });
    track?.(req);
    req.end(body);
  });
}

export class WebhookPump {
  info: FakeWebhookInfo | null = null;
  readonly deliveries: FakeWebhookDelivery[] = [];
  private running = false;
  private delay: number;
  private readonly initialMs: number;
  private readonly maxMs: number;
  readonly timeoutMs: number;
  private inflight: ClientRequest | undefined;
  private sleeping: { timer: NodeJS.Timeout; wake: () => void } | undefined;

  constructor(
    private readonly store: TelegramStore,
    retry: WebhookRetryOptions,
    /** True while deliveries must wait (an outage, or the fake closing). */
    private readonly paused: () => boolean,
    /** Runs a method the bot put in its answer to a delivery (a "webhook reply"). */
    private readonly onReply: (method: string, params: Record<string, unknown>) => Promise<void>,
  ) {
    this.initialMs = retry.initialMs ?? 100;
    this.maxMs = retry.maxMs ?? 1000;
    this.timeoutMs = retry.timeoutMs ?? 30_000;
    this.delay = this.initialMs;
  }

  /** Starts delivering if there is anything to deliver and nothing is delivering already. */
  kick(): void {
    if (this.running || !this.info || this.store.queue.length === 0 || this.paused()) return;
    this.running = true;
    this.run().finally(() => {
      this.running = false;
    });
  }

  private async run(): Promise<void> {
    while (this.info && this.store.queue.length > 0 && !this.paused()) {
      const hook = this.info;
      const update = this.store.queue[0];
      if (!update) break;
      const result = await postJson(
        hook.url,
        JSON.stringify(update),
        hook.secretToken,
        this.timeoutMs,
        (req) => {
          this.inflight = req;
        },
      );
      const ok = result.status >= 200 && result.status < 300;
      const error = ok
        ? undefined
        : (result.error ??
          `Wrong response from the webhook: ${result.status} ${STATUS_CODES[result.status] ?? 'Unknown'}`);
      this.deliveries.push({
        updateId: update.update_id,
        url: hook.url,
        status: result.status,
        ...(error ? { error } : {}),
        ...(hook.secretToken !== undefined ? { secretSent: hook.secretToken } : {}),
        at: Date.now(),
      });
      if (ok) {
        if (this.store.queue[0] === update) this.store.queue.shift();
        this.delay = this.initialMs;
        await this.webhookReply(result);
        continue;
      }
      hook.lastErrorDate = nowSeconds();
      hook.lastErrorMessage = error;
      if (this.paused()) break;
      await this.sleep(this.delay);
      this.delay = Math.min(this.maxMs, this.delay * 2);
    }
  }

  private async webhookReply(result: PostResult): Promise<void> {
    if (!result.body.trim().startsWith('{')) return;
    try {
      const { method, ...params } = JSON.parse(result.body) as Record<string, unknown>;
      if (typeof method === 'string') await this.onReply(method, params);
    } catch {
      // Not a method call: Telegram ignores the body.
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.sleeping = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeping = { timer, wake };
    });
  }

  /** Cuts the delivery in flight and ends any backoff wait (the loop then sees `paused`). */
  stop(): void {
    this.inflight?.destroy();
    this.sleeping?.wake();
  }

  /** Resets the backoff so a new webhook starts delivering at once. */
  resetBackoff(): void {
    this.delay = this.initialMs;
    this.sleeping?.wake();
  }
}
