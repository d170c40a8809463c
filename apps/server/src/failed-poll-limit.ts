import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';

/** Task ids answered 200 within this long pass an address's limit (CoderClaw polls each second). */
const KNOWN_FOR_MS = 10 * 60_000;
/** Bounds on what is kept: past them, new addresses share one count and old task ids go first. */
const MAX_ADDRESSES = 100_000;
const MAX_KNOWN_TASKS = 100_000;

/**
 * Failed runtime state polls (404: an unknown task id, or one whose session has ended) per client
 * address in the current minute. The poll carries no credential and is otherwise unlimited, so
 * without this an address could make the server look up made-up ids as fast as it can send them.
 * An address past its limit still gets answers about tasks this process answered lately: an
 * orchestrator polling its running tasks keeps working even if something at its address floods.
 */
export class FailedPollLimit {
  readonly #failures = new Map<string, number>();
  readonly #known = new Map<string, number>();
  #window = 0;

  constructor(
    private readonly max: number,
    private readonly windowMs = 60_000,
  ) {}

  #key(address: string): string {
    const window = Math.floor(Date.now() / this.windowMs);
    if (window !== this.#window) {
      this.#window = window;
      this.#failures.clear();
    }
    return this.#failures.has(address) || this.#failures.size < MAX_ADDRESSES ? address : '*';
  }

  /** Seconds until the address may fail again; null when this poll may go ahead. */
  refusal(address: string, taskId: string): number | null {
    if ((this.#failures.get(this.#key(address)) ?? 0) < this.max) return null;
    const seen = this.#known.get(taskId);
    if (seen !== undefined && Date.now() - seen < KNOWN_FOR_MS) return null;
    return Math.max(1, Math.ceil(((this.#window + 1) * this.windowMs - Date.now()) / 1000));
  }

  failed(address: string): void {
    const key = this.#key(address);
    this.#failures.set(key, (this.#failures.get(key) ?? 0) + 1);
  }

  answered(taskId: string): void {
    // Re-inserted, so the map's order is oldest answer first.
    this.#known.delete(taskId);
    if (this.#known.size >= MAX_KNOWN_TASKS) {
      const oldest = this.#known.keys().next().value;
      if (oldest !== undefined) this.#known.delete(oldest);
    }
    this.#known.set(taskId, Date.now());
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
