import type { Execution, Project, Task } from '@ccl/db';
import type { RequestCtx } from './context.ts';

interface Entry<V> {
  value: V;
  expires: number;
}

/** A small TTL map with a size bound; the oldest entries go first when it is full. */
class TtlMap<V> {
  private readonly map = new Map<string, Entry<V>>();
  constructor(
    private readonly ttlMs: number,
    private readonly max: number,
  ) {}

  get(key: string): V | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expires < Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: V): void {
    if (this.map.size >= this.max) {
      const oldest = this.map.keys().next().value;
      if (oldest !== undefined) this.map.delete(oldest);
    }
    this.map.set(key, { value, expires: Date.now() + this.ttlMs });
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }
}

export type CachedTaskState = {
  task: Pick<Task, 'id' | 'title'> & { project: Pick<Project, 'slug'> };
  execution: Execution;
};

/**
 * Keeps the hot read path of CoderClaw's polling (session → task state) off the
 * database. Entries are dropped when this process hears of a change (Postgres
 * NOTIFY) and expire after a short TTL anyway, so a lost notification costs at
 * most that long a stale answer.
 */
export class ReadCache {
  private readonly sessions: TtlMap<Omit<RequestCtx, 'requestId'>>;
  private readonly taskStates: TtlMap<CachedTaskState>;
  /** Bumped on every change of a task, so a read that raced a change is not cached. */
  private readonly generations = new Map<string, number>();

  constructor(opts: { sessionTtlMs?: number; taskTtlMs?: number; max?: number } = {}) {
    this.sessions = new TtlMap(opts.sessionTtlMs ?? 5_000, opts.max ?? 10_000);
    this.taskStates = new TtlMap(opts.taskTtlMs ?? 1_000, opts.max ?? 10_000);
  }

  /** Sessions are keyed by the sha256 of their id, as the database keeps them. */
  session(tokenHash: string) {
    return this.sessions.get(tokenHash);
  }

  rememberSession(tokenHash: string, ctx: Omit<RequestCtx, 'requestId'>) {
    this.sessions.set(tokenHash, ctx);
  }

  forgetSession(tokenHash: string) {
    this.sessions.delete(tokenHash);
  }

  /** On a revocation heard from any process (CHANNELS.sessions): every session is read afresh. */
  forgetAllSessions() {
    this.sessions.clear();
  }

  taskState(taskId: string) {
    return this.taskStates.get(taskId);
  }

  generation(taskId: string): number {
    return this.generations.get(taskId) ?? 0;
  }

  /** Stores a read only if no change of the task was heard since `generation` was taken. */
  rememberTaskState(taskId: string, generation: number, value: CachedTaskState) {
    if (this.generation(taskId) === generation) this.taskStates.set(taskId, value);
  }

  taskChanged(taskId: string) {
    this.taskStates.delete(taskId);
    this.generations.set(taskId, this.generation(taskId) + 1);
    // Generations only matter while a read is in flight; keep the map from growing without bound.
    if (this.generations.size > 50_000) this.generations.clear();
  }
}
