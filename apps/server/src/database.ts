import type { Config } from '@ccl/config';
import { startEmbeddedPostgres } from '@ccl/db/embedded';
import type { Logger } from 'pino';

export interface Database {
  url: string;
  embedded: boolean;
  stop(): Promise<void>;
}

/** DATABASE_URL when set, else the embedded PostgreSQL under DATA_DIR (shared with a running server). */
export async function openDatabase(config: Config, log: Logger): Promise<Database> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, embedded: false, stop: async () => {} };
  const pg = await startEmbeddedPostgres({
    dataDir: config.dataDir,
    preferredPort: config.EMBEDDED_PG_PORT,
    log: (msg: string) => log.debug(msg),
  });
  return { url: pg.url, embedded: true, stop: pg.stop };
}
