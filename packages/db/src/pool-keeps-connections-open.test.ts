import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma, type PrismaClient } from './generated/client.ts';
import { createPrisma } from './prisma.ts';
import { sqlOf } from './raw-sql.ts';
import { createEmptyDatabase } from './test-database.ts';

/**
 * A server's pool keeps `keepOpen` connections however long they sit idle, and lets the others go
 * after pg's 10 s: a burst after a quiet spell then finds connections ready instead of waiting for
 * new backends (the backlog bench's polls did, 100–400 ms, after 10 s without a read).
 */
describe('createPrisma keepOpen', () => {
  let db: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let prisma: PrismaClient;
  const watcher = { client: null as pg.Client | null };

  beforeAll(async () => {
    db = await createEmptyDatabase();
    prisma = createPrisma(db.url, { max: 4, keepOpen: 2 });
    watcher.client = new pg.Client({ connectionString: db.url });
    await watcher.client.connect();
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await watcher.client?.end();
    await db?.drop();
  });

  const open = async () =>
    Number(
      (
        await (watcher.client as pg.Client).query(
          'SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
        )
      ).rows[0].n,
    );

  it('keeps two of four connections open past the idle timeout', async () => {
    // Four at once: the pool opens all four.
    await Promise.all(Array.from({ length: 4 }, () => sqlOf(prisma).query(Prisma.sql`SELECT pg_sleep(0.2)`)));
    expect(await open()).toBe(4);
    await new Promise((r) => setTimeout(r, 11_000));
    expect(await open()).toBe(2);
  }, 30_000);
});
