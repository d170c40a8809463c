import type { PendingEvent } from './execution-store.ts';

/**
 * How long a run's informational event (a message, a tool call, progress) may wait for the run's
 * next write before it is written on its own. Runners report in bursts (a model's answer, then its
 * tool calls and their results), and every write is a round trip, a commit and a change notice;
 * a watcher sees the event this much later at most.
 */
export const EVENT_BATCH_MS = 50;

/** At most this many events wait; the next one waits for their write (`add`). */
export const MAX_WAITING = 64;

/**
 * The events of one run that wait to go out with its next write (a state move, a usage report, a
 * checkpoint), in order, or on their own after EVENT_BATCH_MS. One run's writes are sequential,
 * and the timer's write is the only one that can run beside them: `take` waits for it, so every
 * event gets its seq in the order it happened.
 *
 * A worker killed while events wait loses them (at most EVENT_BATCH_MS of them): they are its log,
 * not its state. What the run's recovery reads (its state, checkpoint, approvals) is never deferred,
 * nor a usage report that costs money or that a budget is checked against (run-execution.ts).
 */
export class EventBatch {
  private pending: PendingEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();

  constructor(
    /** Writes events on their own (appendEvents); what it throws is reported to `onError`. */
    private readonly write: (events: PendingEvent[]) => Promise<void>,
    private readonly onError: (err: unknown) => void,
    private readonly delayMs = EVENT_BATCH_MS,
  ) {}

  /**
   * Queues an event for the run's next write. At MAX_WAITING events it writes them before it
   * returns: a runner that reports faster than the database takes it (or while the database is
   * away and the write waits for it) is held up, as it was when each event was its own write.
   */
  async add(event: PendingEvent): Promise<void> {
    this.pending.push(event);
    if (this.pending.length >= MAX_WAITING) await this.flush();
    else this.schedule();
  }

  /** Hands over what waits, for a write that carries it; after any write of the timer's under way. */
  async take(): Promise<PendingEvent[]> {
    this.cancelTimer();
    await this.writing;
    return this.pending.splice(0);
  }

  /**
   * Runs `write` with what waits (as `take` hands it over); if the write fails, the events go out
   * with the next one.
   */
  async carry<T>(write: (events: PendingEvent[]) => Promise<T>): Promise<T> {
    const events = await this.take();
    try {
      return await write(events);
    } catch (err) {
      this.giveBack(events);
      throw err;
    }
  }

  /** A write that was to carry `events` did not happen: they go out with the next one. */
  giveBack(events: readonly PendingEvent[]): void {
    if (events.length === 0) return;
    this.pending.unshift(...events);
    this.schedule();
  }

  /** Writes what waits now, on its own; never throws. */
  async flush(): Promise<void> {
    const events = await this.take();
    if (events.length > 0) await this.write(events).catch(this.onError);
  }

  private schedule() {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const events = this.pending.splice(0);
      if (events.length > 0) this.writing = this.writing.then(() => this.write(events).catch(this.onError));
    }, this.delayMs);
  }

  private cancelTimer() {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
