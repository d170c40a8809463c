import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from './generated/client.ts';
import { registerPool, TRANSACTION_MAX_WAIT_MS } from './raw-sql.ts';

export interface CreatePrismaOptions {
  /** Pool size; pg's default (10) when unset. */
  max?: number;
  /**
   * Connections kept open once made, however long idle (pg's `min`); the rest close after 10 s
   * idle. A server keeps some: opening one costs 15–30 ms of PostgreSQL's time (a new backend, its
   * catalog caches), and after a quiet spell a burst of requests waited on a dozen of them at once.
   */
  keepOpen?: number;
}

export function createPrisma(databaseUrl: string, opts: CreatePrismaOptions = {}): PrismaClient {
  // One pool for Prisma and for the raw statements of the hot path (raw-sql.ts); $disconnect ends it.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: opts.max, min: opts.keepOpen ?? 0 });
  // An idle connection the server dropped is only removed from the pool; the next query reconnects.
  pool.on('error', () => undefined);
  const prisma = new PrismaClient({
    adapter: new PrismaPg(pool, { disposeExternalPool: true }),
    // Bursts of submits queue for a pooled connection; waiting a little beats failing the request.
    transactionOptions: { maxWait: TRANSACTION_MAX_WAIT_MS, timeout: 15_000 },
  });
  registerPool(prisma, pool);
  return prisma;
}
