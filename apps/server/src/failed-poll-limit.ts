import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';

/** Task ids answered 200 within this long pass an address's limit (CoderClaw polls each second). */
const KNOWN_FOR_MS = 10 * 60_000;
/** Bounds on what is kept: past them, new addresses share one count and old task ids go first. */
const MAX_ADDRESSES = 100_000;
const MAX_KNOWN_TASKS = 100_000;

/**
 * Failed runtime state polls (404: an unknown task id, or one whose session has ended) per client
 * address over the last minute. The poll carries no credential and is otherwise unlimited, so
 * without this an address could make the server look up made-up ids as fast as it can send them.
 * An address past its limit still gets answers about tasks this process answered lately: an
 * orchestrator polling its running tasks keeps working even if something at its address floods.
 *
 * The minute slides: the count is this clock minute's failures plus the last minute's, weighted by
 * how much of it is still within the last 60 s (the sliding-window counter), so a burst that
 * straddles the turn of a minute counts whole instead of getting twice the limit.
 */
export class FailedPollLimit {
  /** Failures per address in the current window and in the one before it. */
  #current = new Map<string, number>();
  #previous = new Map<string, number>();
  readonly #known = new Map<string, number>();
  #window = 0;

  constructor(
    private readonly max: number,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The clock's window now; the counts move on with it. Returns how far into it we are (0 to 1). */
  #advance(): number {
    const at = this.now();
    const window = Math.floor(at / this.windowMs);
    if (window !== this.#window) {
      this.#previous = window === this.#window + 1 ? this.#current : new Map();
      this.#current = new Map();
      this.#window = window;
    }
    return (at - window * this.windowMs) / this.windowMs;
  }

  #key(address: string): string {
    const known = this.#current.has(address) || this.#previous.has(address);
    return known || this.#current.size < MAX_ADDRESSES ? address : '*';
  }

  /** Seconds until the address may fail again; null when this poll may go ahead. */
  refusal(address: string, taskId: string): number | null {
    const into = this.#advance();
    const key = this.#key(address);
    const current = this.#current.get(key) ?? 0;
    const previous = this.#previous.get(key) ?? 0;
    if (previous * (1 - into) + current < this.max) return null;
    const seen = this.#known.get(taskId);
    if (seen !== undefined && this.now() - seen < KNOWN_FOR_MS) return null;
    // When the weighted count falls under the limit: within this window as the last one's weight
    // fades, or else in the next one, as this one's does.
    const at =
      current < this.max ? 1 - (this.max - current) / previous : 1 + Math.max(0, 1 - this.max / current);
    // A whole second past that point: at it exactly, the count is still at the limit.
    return Math.floor(((at - into) * this.windowMs) / 1000) + 1;
  }

  failed(address: string): void {
    this.#advance();
    const key = this.#key(address);
    this.#current.set(key, (this.#current.get(key) ?? 0) + 1);
  }

  answered(taskId: string): void {
    // Re-inserted, so the map's order is oldest answer first.
    this.#known.delete(taskId);
    if (this.#known.size >= MAX_KNOWN_TASKS) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
    this.#known.set(taskId, this.now());
  }
}

type Hook<A extends unknown[]> = (request: FastifyRequest, reply: FastifyReply, ...rest: A) => void;
function hooks<T>(h: T | T[] | undefined): T[] {
  if (h === undefined) return [];
  return Array.isArray(h) ? h : [h];
}

/** Puts the limit on the route with `operationId` (the state poll); call before routes are added. */
export function limitFailedPolls(
  app: FastifyInstance,
  operationIds: readonly string[],
  limit: FailedPollLimit,
  refuse: (retryAfterS: number) => Error,
): void {
  // The session contract's task id, or CoderClaw 2026.3's execution number (a string before
  // validation, a number after it: one key for both).
  const taskOf = (request: FastifyRequest) => {
    const params = request.params as { task_id?: unknown; id?: unknown };
    return String(params.task_id ?? params.id ?? '');
  };
  const check: Hook<[(err?: Error) => void]> = (request, reply, done) => {
    const retryAfter = limit.refusal(request.ip, taskOf(request));
    if (retryAfter === null) return done();
    reply.header('retry-after', String(retryAfter));
    done(refuse(retryAfter));
  };
  const count: Hook<[() => void]> = (request, reply, done) => {
    if (reply.statusCode === 404) limit.failed(request.ip);
    else if (reply.statusCode === 200) limit.answered(taskOf(request));
    done();
  };
  app.addHook('onRoute', (route: RouteOptions) => {
    const op = (route.schema as { operationId?: string } | undefined)?.operationId ?? '';
    if (!operationIds.includes(op)) return;
    route.onRequest = [...hooks(route.onRequest), check] as RouteOptions['onRequest'];
    route.onResponse = [...hooks(route.onResponse), count] as RouteOptions['onResponse'];
  });
}
