import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Prisma, type PrismaClient } from './generated/client.ts';
import { createPrisma } from './prisma.ts';
import { sqlOf } from './raw-sql.ts';
import { createEmptyDatabase } from './test-database.ts';

/** Text that must come back exactly as sent: quotes, backslashes, a `$1`, a newline, non-ASCII. */
const AWKWARD = `O'Reilly \\ back\\slash $1 "quoted" ; COMMIT; -- ü 🦀\nsecond line`;

describe('raw statements on Prisma’s pool (sqlOf)', () => {
  let db: Awaited<ReturnType<typeof createEmptyDatabase>>;
  let prisma: PrismaClient;

  beforeAll(async () => {
    db = await createEmptyDatabase();
    prisma = createPrisma(db.url, { max: 3 });
    await prisma.$executeRawUnsafe(
      `ALTER DATABASE "${new URL(db.url).pathname.slice(1)}" SET timezone TO 'Asia/Tokyo'`,
    );
    await prisma.$executeRawUnsafe(
      'CREATE TABLE notes (id bigint PRIMARY KEY, body text NOT NULL, at timestamp(3) NOT NULL)',
    );
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  it('reads bigint as BigInt and a timestamp without time zone as the UTC instant, as Prisma does', async () => {
    const at = new Date('2026-12-06T08:00:00.123Z');
    const rows = await sqlOf(prisma).query<{ n: bigint; at: Date }>(
      Prisma.sql`SELECT ${9_007_199_254_740_993n}::bigint AS n, ${at}::timestamp AS at`,
    );
    expect(rows).toEqual([{ n: 9_007_199_254_740_993n, at }]);
  });

  it('a statement sent with COMMIT stores its values exactly, and commits with the transaction', async () => {
    await sqlOf(prisma).transaction(async (tx) => {
      await tx.$executeRaw`INSERT INTO notes (id, body, at) VALUES (1, 'first', now())`;
      const kept = tx.$executeRawAtCommit?.(
        Prisma.sql`INSERT INTO notes (id, body, at) VALUES (${2n}, ${AWKWARD}, ${'2026-12-06T08:00:00.000Z'}::timestamptz AT TIME ZONE 'UTC')`,
      );
      expect(kept).toBe(true);
      // Not sent yet: only the commit carries it.
      expect(await tx.$queryRaw<Array<{ n: number }>>`SELECT count(*)::int AS n FROM notes`).toEqual([
        { n: 1 },
      ]);
    });
    const rows = await prisma.$queryRaw<Array<{ id: bigint; body: string; at: Date }>>`
      SELECT id, body, at FROM notes ORDER BY id`;
    expect(rows.map((r) => r.body)).toEqual(['first', AWKWARD]);
    expect(rows[1]?.at.toISOString()).toBe('2026-12-06T08:00:00.000Z');
  });

  it('a statement sent with COMMIT that fails rolls the whole transaction back', async () => {
    const attempt = sqlOf(prisma).transaction(async (tx) => {
      await tx.$executeRaw`INSERT INTO notes (id, body, at) VALUES (3, 'third', now())`;
      // id 1 exists: the commit's message fails, and so does the transaction.
      tx.$executeRawAtCommit?.(Prisma.sql`INSERT INTO notes (id, body, at) VALUES (${1}, ${'again'}, now())`);
    });
    await expect(attempt).rejects.toThrow(/duplicate key/);
    const ids = await prisma.$queryRaw<Array<{ id: bigint }>>`SELECT id FROM notes ORDER BY id`;
    expect(ids.map((r) => r.id)).toEqual([1n, 2n]);
    // The pool still serves.
    expect(await sqlOf(prisma).query(Prisma.sql`SELECT 1 AS one`)).toEqual([{ one: 1 }]);
  });

  it('a connection ended mid-transaction rejects with Prisma’s code for it (P1017), and the pool goes on', async () => {
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      const attempt = sqlOf(prisma).transaction(async (tx) => {
        const [me] = await tx.$queryRaw<Array<{ pid: number }>>`SELECT pg_backend_pid() AS pid`;
        await admin.query('SELECT pg_terminate_backend($1)', [me?.pid]);
        await tx.$executeRaw`INSERT INTO notes (id, body, at) VALUES (4, 'lost', now())`;
      });
      await expect(attempt).rejects.toMatchObject({ code: 'P1017' });
    } finally {
      await admin.end();
    }
    const ids = await prisma.$queryRaw<Array<{ id: bigint }>>`SELECT id FROM notes ORDER BY id`;
    expect(ids.map((r) => r.id)).toEqual([1n, 2n]);
    expect(await sqlOf(prisma).query(Prisma.sql`SELECT 2 AS two`)).toEqual([{ two: 2 }]);
  });

  it('a client it did not make (a test’s stand-in) is used as it is', async () => {
    const seen: unknown[] = [];
    const standIn = {
      $queryRaw: async (sql: Prisma.Sql) => {
        seen.push(sql.text);
        return [{ via: 'stand-in' }];
      },
      $transaction: async () => undefined,
    } as unknown as PrismaClient;
    expect(await sqlOf(standIn).query(Prisma.sql`SELECT ${1} AS x`)).toEqual([{ via: 'stand-in' }]);
    expect(seen).toEqual(['SELECT $1 AS x']);
  });
});
