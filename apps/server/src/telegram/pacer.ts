/**
 * Sends to Telegram one chat at a time: each chat's calls run in order, at least `intervalMs`
 * apart (Telegram allows about one message a second per chat, twenty a minute in groups), and a
 * call waiting its turn that edits the same message as a newer one is replaced by the newer one
 * (only the latest text of a message matters). A failed call is logged and never thrown at the
 * caller that queued it without waiting: an outage of Telegram must not reach an execution.
 */
export class ChatPacer {
  private readonly chats = new Map<number, ChatLane>();
  private closed = false;

  constructor(
    private readonly intervalMs: number,
    private readonly onError: (err: unknown, chatId: number) => void,
    /** Errors worth another try (network, 5xx): retried after 1, 2, 4 … 30 s, `retries` times. */
    private readonly transient: (err: unknown) => boolean = () => false,
    private readonly retries = 6,
  ) {}

  /**
   * Runs `call` in the chat's turn and answers its result (or undefined when it failed or the
   * pacer closed). With `key`, an earlier call with the same key that has not started yet is
   * dropped in favour of this one, and answers undefined.
   */
  run<T>(chatId: number, call: () => Promise<T>, key?: string): Promise<T | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    let lane = this.chats.get(chatId);
    if (!lane) {
      lane = { queue: [], busy: false, lastAt: 0 };
      this.chats.set(chatId, lane);
    }
    return new Promise<T | undefined>((resolve) => {
      const item: Item = { key, call, resolve: resolve as (v: unknown) => void };
      if (key) {
        const index = lane.queue.findIndex((q) => q.key === key);
        if (index >= 0) {
          lane.queue[index]?.resolve(undefined);
          lane.queue.splice(index, 1);
        }
      }
      lane.queue.push(item);
      void this.drain(chatId, lane);
    });
  }

  private async drain(chatId: number, lane: ChatLane): Promise<void> {
    if (lane.busy) return;
    lane.busy = true;
    try {
      for (let item = lane.queue.shift(); item; item = lane.queue.shift()) {
        const wait = lane.lastAt + this.intervalMs - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (this.closed) {
          item.resolve(undefined);
          continue;
        }
        item.resolve(await this.attempt(item, chatId));
        lane.lastAt = Date.now();
      }
    } finally {
      // The lane stays (a few numbers per chat): its lastAt paces the chat's next call.
      lane.busy = false;
    }
  }

  private async attempt(item: Item, chatId: number): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await item.call();
      } catch (err) {
        if (this.closed || attempt >= this.retries || !this.transient(err)) {
          this.onError(err, chatId);
          return undefined;
        }
        await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** attempt, 30_000)));
      }
    }
  }

  /** Calls waiting their turn, in all chats. */
  get pending(): number {
    let n = 0;
    for (const lane of this.chats.values()) n += lane.queue.length + (lane.busy ? 1 : 0);
    return n;
  }

  /** Drops what has not started; calls under way finish. */
  close(): void {
    this.closed = true;
    for (const lane of this.chats.values()) for (const item of lane.queue.splice(0)) item.resolve(undefined);
  }
}

interface Item {
  key: string | undefined;
  call: () => Promise<unknown>;
  resolve: (value: unknown) => void;
}

interface ChatLane {
  queue: Item[];
  busy: boolean;
  lastAt: number;
}
