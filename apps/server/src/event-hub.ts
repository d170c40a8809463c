import { CHANNELS, type ExecutionChange } from '@ccl/core';

type Listener = (change: ExecutionChange) => void;

interface Subscriber {
  subscribe(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
}

/**
 * Fans the notifications of this process out to SSE streams: execution changes keyed by
 * execution id, over a single LISTEN, card changes (CHANNELS.task), and revocations (CHANNELS.sessions, sent by whichever
 * process revoked a credential, the CLI too) to every open stream.
 */
export class EventHub {
  private readonly byExecution = new Map<string, Set<Listener>>();
  private readonly all = new Set<Listener>();
  private readonly revocations = new Set<() => void>();
  private readonly cards = new Set<(taskId: string) => void>();
  private readonly unsubscribe: Array<() => Promise<void>> = [];

  async start(bus: Subscriber): Promise<void> {
    this.unsubscribe.push(
      await bus.subscribe(CHANNELS.execution, (payload) => {
        let change: ExecutionChange;
        try {
          change = JSON.parse(payload) as ExecutionChange;
        } catch {
          return;
        }
        for (const fn of this.byExecution.get(change.executionId) ?? []) fn(change);
        for (const fn of this.all) fn(change);
      }),
      await bus.subscribe(CHANNELS.sessions, () => {
        for (const fn of this.revocations) fn();
      }),
      await bus.subscribe(CHANNELS.task, (payload) => {
        let taskId: unknown;
        try {
          taskId = (JSON.parse(payload) as { taskId?: unknown }).taskId;
        } catch {
          return;
        }
        if (typeof taskId === 'string') for (const fn of this.cards) fn(taskId);
      }),
    );
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

  /** Listen to changes of cards that no run change carries (edits, moves, claims). */
  onTask(fn: (taskId: string) => void): () => void {
    this.cards.add(fn);
    return () => this.cards.delete(fn);
  }

  /** Called when some credential was revoked (which one is not said). Returns the unsubscribe function. */
  onRevocation(fn: () => void): () => void {
    this.revocations.add(fn);
    return () => this.revocations.delete(fn);
  }

  async stop(): Promise<void> {
    for (const off of this.unsubscribe.splice(0)) await off();
  }
}
