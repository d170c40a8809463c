import type { RuntimeExecutionDto } from '@ccl/contracts';

/** What the poll of CoderClaw 2026.3 needs of an execution: its answer and who may read it cheaply. */
export interface CachedRuntimeExecution {
  executionId: string;
  /** The card's uuid, for the reach check of a reader who is not the submitter. */
  taskUuid: string;
  answer: RuntimeExecutionDto;
}

interface Entry {
  value: CachedRuntimeExecution;
  expires: number;
}

/**
 * Keeps `GET /api/runtime/executions/{number}`, which CoderClaw polls once a second per run, off
 * the database, as ReadCache does for the session contract's state poll. An entry is dropped when
 * this process hears of a change of its execution (Postgres NOTIFY) and expires after a short TTL
 * anyway, so a lost notification costs at most that long a stale answer. A read that a change
 * overtook is answered but not kept: every change is stamped with a tick, and a read keeps its
 * result only if its execution has not changed since the read started.
 */
export class RuntimeExecutionCache {
  private readonly entries = new Map<number, Entry>();
  /** execution uuid → number: changes name the uuid, entries are found by number. */
  private readonly numbers = new Map<string, number>();
  private readonly loading = new Map<number, Promise<CachedRuntimeExecution | null>>();
  private readonly changedAt = new Map<string, number>();
  private readonly waiters = new Map<string, Set<() => void>>();
  private tick = 0;
  /** Executions forgotten from changedAt count as changed at this tick. */
  private floor = 0;

  constructor(private readonly opts: { ttlMs?: number; max?: number } = {}) {}

  get(number: number): CachedRuntimeExecution | undefined {
    const hit = this.entries.get(number);
    if (!hit) return undefined;
    if (hit.expires < Date.now()) {
      this.entries.delete(number);
      return undefined;
    }
    return hit.value;
  }

  /** A miss: `load` once for every concurrent reader of the number; null (unknown) is not kept. */
  load(
    number: number,
    load: () => Promise<CachedRuntimeExecution | null>,
  ): Promise<CachedRuntimeExecution | null> {
    const running = this.loading.get(number);
    if (running) return running;
    const started = this.tick;
    const promise = load()
      .then((value) => {
        if (value && (this.changedAt.get(value.executionId) ?? this.floor) <= started)
          this.keep(number, value);
        return value;
      })
      .finally(() => {
        if (this.loading.get(number) === promise) this.loading.delete(number);
      });
    this.loading.set(number, promise);
    return promise;
  }

  private keep(number: number, value: CachedRuntimeExecution) {
    const max = this.opts.max ?? 10_000;
    if (this.entries.size >= max) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    if (this.numbers.size >= max) this.numbers.clear();
    this.entries.set(number, { value, expires: Date.now() + (this.opts.ttlMs ?? 1_000) });
    this.numbers.set(value.executionId, number);
  }

  /** On every change of an execution heard from any process (CHANNELS.execution). */
  changed(executionId: string) {
    this.tick++;
    // The stamps only matter while a read is in flight; keep the map from growing without bound.
    if (this.changedAt.size > 50_000) {
      this.changedAt.clear();
      this.floor = this.tick;
    }
    this.changedAt.set(executionId, this.tick);
    const number = this.numbers.get(executionId);
    if (number !== undefined) {
      this.entries.delete(number);
      // Readers arriving after the change must not join a read that started before it.
      this.loading.delete(number);
    }
    const waiting = this.waiters.get(executionId);
    if (waiting) {
      this.waiters.delete(executionId);
      for (const wake of waiting) wake();
    }
  }

  /** Resolves at the next change of the execution heard here, or after `ms` (a lost notification). */
  nextChange(executionId: string, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const waiting = this.waiters.get(executionId) ?? new Set<() => void>();
      const wake = () => {
        clearTimeout(timer);
        waiting.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        waiting.delete(wake);
        if (waiting.size === 0 && this.waiters.get(executionId) === waiting) this.waiters.delete(executionId);
        resolve();
      }, ms);
      waiting.add(wake);
      this.waiters.set(executionId, waiting);
    });
  }
}
