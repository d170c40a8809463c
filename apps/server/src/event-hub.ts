import { CHANNELS, type ExecutionChange } from '@ccl/core';

type Listener = (change: ExecutionChange) => void;

interface Subscriber {
  subscribe(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * Fans the execution-change notifications of this process out to SSE streams,
 * keyed by execution id, over a single LISTEN.
 */
export class EventHub {
  private readonly byExecution = new Map<string, Set<Listener>>();
  private readonly all = new Set<Listener>();
  private unsubscribe: (() => Promise<void>) | null = null;

  async start(bus: Subscriber): Promise<void> {
    this.unsubscribe = await bus.subscribe(CHANNELS.execution, (payload) => {
      let change: ExecutionChange;
      try {
        change = JSON.parse(payload) as ExecutionChange;
      } catch {
        return;
      }
      for (const fn of this.byExecution.get(change.executionId) ?? []) fn(change);
      for (const fn of this.all) fn(change);
    });
  }

  /** Listen to one execution, or to every execution with `*`. Returns the unsubscribe function. */
  on(executionId: string, fn: Listener): () => void {
    if (executionId === '*') {
      this.all.add(fn);
      return () => this.all.delete(fn);
    }
    let set = this.byExecution.get(executionId);
    if (!set) {
      set = new Set();
      this.byExecution.set(executionId, set);
    }
    set.add(fn);
    return () => {
      set.delete(fn);
      if (set.size === 0) this.byExecution.delete(executionId);
    };
  }

  async stop(): Promise<void> {
    await this.unsubscribe?.();
    this.unsubscribe = null;
  }
}
