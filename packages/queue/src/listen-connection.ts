import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';

type Listener = (payload: string) => void;

interface Channel {
  listeners: Set<Listener>;
  /** Settles once the channel is LISTENed (or left to the reconnect loop); shared by concurrent subscribers. */
  listening: Promise<void>;
}

const RECONNECT_BASE_MS = 100;
const RECONNECT_MAX_MS = 5_000;
/** Lets operators (and tests) find this connection in pg_stat_activity. */
export const LISTEN_APPLICATION_NAME = 'clawlink-notifier';

/**
 * One dedicated Postgres connection carrying every LISTEN of a process. LISTEN lives on a
 * physical connection, so when it drops we connect again with backoff and LISTEN all
 * channels anew; notifications sent while disconnected are lost, as NOTIFY keeps nothing.
 */
export class ListenConnection {
  private readonly channels = new Map<string, Channel>();
  private client: pg.Client | undefined;
  /** The first connection, shared by subscribers that arrive while it is being made. */
  private opening: Promise<pg.Client> | undefined;
  private reconnecting = false;
  private readonly closing = new AbortController();
  private readonly gapListeners = new Set<() => void>();

  constructor(
    private readonly databaseUrl: string,
    private readonly report: (err: Error) => void,
  ) {}

  /**
   * Called when the connection drops and again once it LISTENs anew: notifications in between are
   * lost, so whoever keeps state fresh by them (read caches) forgets it.
   */
  onGap(fn: () => void): () => void {
    this.gapListeners.add(fn);
    return () => this.gapListeners.delete(fn);
  }

  private gap(): void {
    for (const fn of this.gapListeners) {
      try {
        fn();
      } catch (err) {
        this.report(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }

  async add(channel: string, listener: Listener): Promise<void> {
    if (this.closing.signal.aborted) throw new Error('Notifier is closed');
    let entry = this.channels.get(channel);
    if (!entry) {
      const created: Channel = { listeners: new Set(), listening: Promise.resolve() };
      // Registered before listening starts, so a connection made meanwhile LISTENs it too.
      this.channels.set(channel, created);
      created.listening = this.listen(channel, created);
      entry = created;
    }
    entry.listeners.add(listener);
    try {
      await entry.listening;
    } catch (err) {
      if (this.channels.get(channel) === entry) this.channels.delete(channel);
      throw err;
    }
  }

  async remove(channel: string, listener: Listener): Promise<void> {
    const entry = this.channels.get(channel);
    if (!entry?.listeners.delete(listener) || entry.listeners.size > 0) return;
    this.channels.delete(channel);
    const client = this.client;
    // Without a connection there is nothing to UNLISTEN: a reconnect only LISTENs registered channels.
    if (!client) return;
    try {
      await client.query(`UNLISTEN ${quoteIdent(channel)}`);
    } catch (err) {
      if (client === this.client) throw err;
    }
  }

  async close(): Promise<void> {
    this.closing.abort();
    this.channels.clear();
    const client = this.client;
    this.client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => {});
      await client.end();
    }
  }

  private async listen(channel: string, entry: Channel): Promise<void> {
    const client = this.client ?? (this.reconnecting ? undefined : await this.open());
    // While reconnecting, or if the channel was dropped meanwhile, the LISTEN is not ours to make.
    if (!client || this.channels.get(channel) !== entry) return;
    try {
      await client.query(`LISTEN ${quoteIdent(channel)}`);
    } catch (err) {
      // If the connection dropped meanwhile, the reconnect LISTENs this channel again.
      if (client === this.client) throw err;
    }
  }

  private open(): Promise<pg.Client> {
    this.opening ??= this.connect().finally(() => {
      this.opening = undefined;
    });
    return this.opening;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.databaseUrl,
      application_name: LISTEN_APPLICATION_NAME,
      // Without keepalive a silently vanished server would leave us listening to nothing.
      keepAlive: true,
    });
    client.on('notification', (msg) => this.dispatch(msg.channel, msg.payload ?? ''));
    client.on('error', (err) => this.dropped(client, err));
    client.on('end', () => this.dropped(client, new Error('Notifier LISTEN connection ended')));
    try {
      await client.connect();
      if (this.closing.signal.aborted) throw new Error('Notifier is closed');
      this.client = client;
      for (const channel of [...this.channels.keys()]) {
        await client.query(`LISTEN ${quoteIdent(channel)}`);
      }
      return client;
    } catch (err) {
      if (this.client === client) this.client = undefined;
      discard(client);
      throw err;
    }
  }

  private dropped(client: pg.Client, err: Error): void {
    // Events of a connection we already replaced or are tearing down are old news.
    if (client !== this.client) return;
    this.client = undefined;
    discard(client);
    if (this.closing.signal.aborted) return;
    this.report(err);
    this.gap();
    void this.reconnect();
  }

  private async reconnect(): Promise<void> {
    if (this.reconnecting) return;
    this.reconnecting = true;
    try {
      for (let attempt = 0; ; attempt++) {
        const delay = Math.min(RECONNECT_BASE_MS * 2 ** attempt, RECONNECT_MAX_MS);
        await sleep(delay, undefined, { signal: this.closing.signal });
        try {
          await this.connect();
          this.gap();
          return;
        } catch (err) {
          if (this.closing.signal.aborted) return;
          this.report(err instanceof Error ? err : new Error(String(err)));
        }
      }
    } catch {
      // The sleep was aborted: the notifier closed.
    } finally {
      this.reconnecting = false;
    }
  }

  private dispatch(channel: string, payload: string): void {
    for (const listener of this.channels.get(channel)?.listeners ?? []) {
      try {
        listener(payload);
      } catch (err) {
        this.report(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Ends a connection we no longer use without letting its late errors crash the process. */
function discard(client: pg.Client): void {
  client.removeAllListeners();
  client.on('error', () => {});
  client.end().catch(() => {});
}
