import pg from 'pg';
import { ListenConnection } from './listen-connection.ts';

export interface Notifier {
  /** NOTIFY; the payload must be shorter than 8000 bytes (Postgres' limit). */
  publish(channel: string, payload: string): Promise<void>;
  /** Resolves once the channel is LISTENed; returns the unsubscribe function. */
  subscribe(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
  /**
   * `fn` runs when the LISTEN connection drops and again once it is back: notifications sent in
   * between are lost. Returns the function that stops it.
   */
  onGap(fn: () => void): () => void;
  close(): Promise<void>;
}

export interface NotifierOptions {
  /** Connection drops, failed reconnects and listener exceptions. Default: console.error. */
  onError?: (err: Error) => void;
}

const MAX_PAYLOAD_BYTES = 8000;
/**
 * How long the first notice after a quiet spell waits for others to go in its statement. A busy
 * worker's runs publish a few notices each within milliseconds of one another (rank, moves, events):
 * at 2 ms, one statement carries most of a run's instead of one or two.
 */
const GATHER_MS = 2;
/** Channels are Postgres identifiers: NAMEDATALEN - 1 bytes. */
const MAX_CHANNEL_BYTES = 63;

/**
 * Pub/sub over Postgres LISTEN/NOTIFY, for live events and for routing a cancel to the
 * worker holding a job; Postgres is there with either queue backend.
 */
export function createNotifier(databaseUrl: string, opts: NotifierOptions = {}): Notifier {
  const report = opts.onError ?? ((err) => console.error('[notifier]', err));
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  // An idle pooled connection can die (server restart); pg throws if nobody listens for that.
  pool.on('error', report);
  const listener = new ListenConnection(databaseUrl, report);
  let closed: Promise<void> | undefined;
  /**
   * Notices wait here while one statement sends those before them: under load, one statement (one
   * round trip, one short hold of PostgreSQL's NOTIFY lock) sends many, in the order they came.
   */
  let queued: Array<{ channel: string; payload: string; sent: () => void; failed: (err: Error) => void }> =
    [];
  /** The statement sending a batch, while one is out. */
  let sending: Promise<void> | null = null;
  /** Set while the first notice after a quiet spell waits for others to go with it. */
  let gathering: NodeJS.Timeout | null = null;
  const sendQueued = () => {
    if (gathering) clearTimeout(gathering);
    gathering = null;
    if (sending || queued.length === 0) return;
    const batch = queued;
    queued = [];
    sending = pool
      .query('SELECT count(pg_notify(c, p)) FROM unnest($1::text[], $2::text[]) AS n(c, p)', [
        batch.map((n) => n.channel),
        batch.map((n) => n.payload),
      ])
      .then(
        () => {
          for (const n of batch) n.sent();
        },
        (err: Error) => {
          for (const n of batch) n.failed(err);
        },
      )
      .finally(() => {
        sending = null;
        sendQueued();
      });
  };

  return {
    async publish(channel, payload) {
      assertChannel(channel);
      const bytes = Buffer.byteLength(payload, 'utf8');
      if (bytes >= MAX_PAYLOAD_BYTES) {
        throw new Error(
          `Notifier payload on channel "${channel}" is ${bytes} bytes; Postgres NOTIFY needs less than ${MAX_PAYLOAD_BYTES}`,
        );
      }
      await new Promise<void>((sent, failed) => {
        queued.push({ channel, payload, sent, failed });
        // Sent at once behind a statement that is out; otherwise after GATHER_MS, with what came meanwhile.
        if (!sending && !gathering) gathering = setTimeout(sendQueued, GATHER_MS);
      });
    },
    async subscribe(channel, fn) {
      assertChannel(channel);
      // A wrapper per subscription, so subscribing the same function twice gives two subscriptions.
      const subscription = (payload: string) => fn(payload);
      await listener.add(channel, subscription);
      let subscribed = true;
      return async () => {
        if (!subscribed) return;
        subscribed = false;
        await listener.remove(channel, subscription);
      };
    },
    onGap(fn) {
      return listener.onGap(fn);
    },
    close() {
      closed ??= (async () => {
        // What was published before the close is sent first.
        sendQueued();
        while (sending) await sending;
        await listener.close();
        await pool.end();
      })();
      return closed;
    },
  };
}

function assertChannel(channel: string): void {
  const bytes = Buffer.byteLength(channel, 'utf8');
  if (bytes === 0 || bytes > MAX_CHANNEL_BYTES) {
    throw new Error(`Notifier channel must be 1 to ${MAX_CHANNEL_BYTES} bytes, got ${bytes}: "${channel}"`);
  }
}
