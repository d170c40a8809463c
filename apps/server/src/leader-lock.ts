import pg from 'pg';

export interface LeaderLockOptions {
  /** The PostgreSQL the processes share. */
  url: string;
  /** The advisory lock's key; one per kind of leader. */
  key: bigint;
  /** How often a stand-by process tries to take over. */
  retryMs: number;
  onAcquire(): void | Promise<void>;
  /** The lock is gone (connection lost, or stop): stop leading at once. */
  onLose(): void | Promise<void>;
  log: { warn(obj: object, msg?: string): void };
}

/**
 * Leadership among processes through a session-level PostgreSQL advisory lock held on a
 * connection of its own: the process holding it leads; the others try again every `retryMs`.
 * The lock goes with the connection, so a leader killed with -9 frees it as soon as PostgreSQL
 * notices, and a stand-by takes over at its next try.
 */
export class LeaderLock {
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private leading = false;

  constructor(private readonly opts: LeaderLockOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.attempt();
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.attempt(), this.opts.retryMs);
    this.timer.unref();
  }

  private async attempt(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.opts.url, application_name: 'clawlink-leader' });
    client.on('error', (err) => {
      this.opts.log.warn({ err: err.message }, 'leader lock connection failed');
      void this.lost(client);
    });
    try {
      await client.connect();
      const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1) AS ok', [
        this.opts.key.toString(),
      ]);
      if (!rows[0]?.ok || this.stopped) {
        await client.end().catch(() => {});
        this.schedule();
        return;
      }
      this.client = client;
      client.on('end', () => void this.lost(client));
      this.leading = true;
      await this.opts.onAcquire();
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, 'leader lock attempt failed');
      await client.end().catch(() => {});
      this.schedule();
    }
  }

  private async lost(client: pg.Client): Promise<void> {
    if (this.client !== client) return;
    this.client = null;
    if (this.leading) {
      this.leading = false;
      await this.opts.onLose();
    }
    await client.end().catch(() => {});
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const client = this.client;
    this.client = null;
    if (this.leading) {
      this.leading = false;
      await this.opts.onLose();
    }
    // Ending the session releases the lock.
    await client?.end().catch(() => {});
  }
}
