import { writeAudit } from './audit.ts';
import { makeCtx, type RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';

/** A refused request, as its DENIED audit row records it. */
export interface Refusal {
  action: string;
  resourceType: string;
  resourceId?: string | null;
  reason: string;
  /** The client's address, for refusals of callers nobody knows (a 401). */
  address?: string | undefined;
  /**
   * What the refused request is counted by: a credential that exists (a revoked key's
   * `api_key:<id>`); otherwise the calling credential, or the address when there is none.
   */
  credential?: string | undefined;
}

/** Writing refusals needs the audit chain; aggregating them needs this process's RefusalLog. */
export type RefusalDeps = Pick<CoreDeps, 'prisma' | 'audit' | 'refusals'>;

/** The actor of a refusal no credential stands behind: written with no user. */
export function anonymousCtx(requestId?: string): RequestCtx {
  return makeCtx({ userId: '', roleName: 'NONE', permissions: [], via: 'anonymous' }, requestId);
}

/** The credential a caller used, as refusals are counted by it. */
function callerOf(ctx: RequestCtx): string {
  const { actor } = ctx;
  if (actor.apiKeyId) return `api_key:${actor.apiKeyId}`;
  if (actor.webSessionId) return `web_session:${actor.webSessionId}`;
  if (actor.sessionId) return `session:${actor.sessionId}`;
  return `${actor.via}:${actor.userId}`;
}

function bucketOf(ctx: RequestCtx, r: Refusal): string {
  if (r.credential) return r.credential;
  if (ctx.actor.via !== 'anonymous') return callerOf(ctx);
  return `address:${r.address ?? 'unknown'}`;
}

async function writeRefusal(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
  ctx: RequestCtx,
  r: Refusal,
  detail: Record<string, unknown>,
) {
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action: r.action,
      resourceType: r.resourceType,
      resourceId: r.resourceId ?? null,
      outcome: 'DENIED',
      detail: { reason: r.reason, ...(r.address ? { address: r.address } : {}), ...detail },
    }),
  );
}

/**
 * Records a refusal as a DENIED audit row. Refusals come in floods (a scanner, a revoked key left
 * in a script, a client probing ids), so in an API process the first of each (action, reason,
 * credential or address) per minute is written at once and the rest are counted into one more row
 * when the minute ends: a flood costs two rows a minute, not one per request.
 */
export async function recordRefusal(deps: RefusalDeps, ctx: RequestCtx, refusal: Refusal): Promise<void> {
  const key = `${refusal.action}|${refusal.reason}|${bucketOf(ctx, refusal)}`;
  if (deps.refusals && !deps.refusals.admit(key, ctx, refusal)) return;
  await writeRefusal(deps, ctx, refusal, { count: 1 });
}

interface Bucket {
  ctx: RequestCtx;
  refusal: Refusal;
  window: number;
  /** Refusals after the first (which was written at once). */
  more: number;
  lastAt: number;
  /** A few of the resources the later refusals named (ids probed, for instance). */
  sample: Set<string>;
}

const SAMPLE = 10;

/**
 * This process's count of refusals per (action, reason, credential or address) and minute. Holds
 * at most `maxBuckets` of them: beyond that, a minute's refusals of one action and reason share a
 * single bucket, so the table grows by a bounded number of rows a minute however many addresses
 * the flood comes from.
 */
export class RefusalLog {
  readonly #buckets = new Map<string, Bucket>();
  readonly #windowMs: number;
  readonly #maxBuckets: number;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: Pick<CoreDeps, 'prisma' | 'audit' | 'log'>,
    opts: { windowMs?: number; maxBuckets?: number } = {},
  ) {
    this.#windowMs = opts.windowMs ?? 60_000;
    this.#maxBuckets = opts.maxBuckets ?? 1_000;
  }

  /** Writes the counts of each minute soon after it ends. */
  start(): void {
    this.#timer ??= setInterval(() => void this.flush(false), Math.ceil(this.#windowMs / 4));
    this.#timer.unref();
  }

  /** True: the first of its bucket this minute, write it now. False: counted, written later. */
  admit(key: string, ctx: RequestCtx, refusal: Refusal): boolean {
    const window = Math.floor(Date.now() / this.#windowMs);
    let full = `${window}|${key}`;
    if (!this.#buckets.has(full) && this.#buckets.size >= this.#maxBuckets) {
      full = `${window}|${refusal.action}|${refusal.reason}|*`;
    }
    const bucket = this.#buckets.get(full);
    if (!bucket) {
      this.#buckets.set(full, { ctx, refusal, window, more: 0, lastAt: Date.now(), sample: new Set() });
      return true;
    }
    bucket.more++;
    bucket.lastAt = Date.now();
    if (refusal.resourceId && bucket.sample.size < SAMPLE) bucket.sample.add(refusal.resourceId);
    return false;
  }

  /** Writes the counted refusals of ended minutes (all of them with `all`), one row per bucket. */
  flush(all: boolean): Promise<void> {
    this.#flushing = this.#flushing.then(() => this.#flush(all));
    return this.#flushing;
  }

  async #flush(all: boolean): Promise<void> {
    const now = Math.floor(Date.now() / this.#windowMs);
    for (const [key, b] of this.#buckets) {
      if (!all && b.window >= now) continue;
      this.#buckets.delete(key);
      if (b.more === 0) continue;
      const detail = {
        count: b.more,
        repeated: true,
        until: new Date(b.lastAt).toISOString(),
        ...(key.endsWith('|*') ? { many_callers: true } : {}),
        ...(b.sample.size ? { sample: [...b.sample] } : {}),
      };
      // The count spans many requests: none of their ids stands for it.
      const { requestId: _first, ...ctx } = b.ctx;
      await writeRefusal(this.deps, ctx, b.refusal, detail).catch((err: Error) =>
        this.deps.log.warn({ err: err.message, action: b.refusal.action }, 'refusal count not recorded'),
      );
    }
  }

  /** Stops the timer and writes every count still held. */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush(true);
  }
}
