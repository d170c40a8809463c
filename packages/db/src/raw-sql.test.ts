import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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

  it('BEGIN goes out with the first statement: a two-statement transaction is three messages, and a failing first statement leaves nothing', async () => {
    const sent: string[] = [];
    const query = pg.Client.prototype.query;
    const spy = vi.spyOn(pg.Client.prototype, 'query').mockImplementation(function (
      this: pg.Client,
      ...args: unknown[]
    ) {
      const config = args[0] as string | { text: string };
      sent.push(typeof config === 'string' ? config : config.text);
      return (query as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof query);
    try {
      const [row] = await sqlOf(prisma).transaction(async (tx) => {
        const rows = await tx.$queryRaw<Array<{ id: bigint; body: string }>>`
          INSERT INTO notes (id, body, at) VALUES (${10n}, ${AWKWARD}, ${new Date('2026-12-06T09:00:00Z')})
          RETURNING id, body`;
        tx.$executeRawAtCommit?.(Prisma.sql`UPDATE notes SET body = ${'kept'} WHERE id = ${10n}`);
        return rows;
      });
      expect(row).toEqual({ id: 10n, body: AWKWARD });
      expect(sent).toHaveLength(2);
      expect(sent[0]).toMatch(/^BEGIN;\n\s*INSERT INTO notes/);
      expect(sent[1]).toMatch(/^UPDATE notes .*;\nCOMMIT$/s);

      sent.length = 0;
      const failing = sqlOf(prisma).transaction(async (tx) => {
        await tx.$executeRaw`INSERT INTO notes (id, body, at) VALUES (${11n}, ${'x'}, now())`;
        await tx.$executeRaw`INSERT INTO notes (id, body, at) VALUES (${10n}, ${'duplicate'}, now())`;
      });
      await expect(failing).rejects.toThrow(/duplicate key/);
      expect(sent).toEqual([expect.stringMatching(/^BEGIN;/), expect.any(String), 'ROLLBACK']);

      // Lists of text and booleans are written in too.
      sent.length = 0;
      const listed = await sqlOf(prisma).transaction(
        (tx) =>
          tx.$queryRaw`SELECT ${['x', AWKWARD]}::text[] AS list, ${[]}::text[] AS none, ${true}::boolean AS yes`,
      );
      expect(listed).toEqual([{ list: ['x', AWKWARD], none: [], yes: true }]);
      expect(sent[0]).toMatch(/^BEGIN;\n/);

      // A statement whose values cannot be written into its text: BEGIN goes alone first.
      sent.length = 0;
      await sqlOf(prisma).transaction(async (tx) => {
        await tx.$queryRawUnsafe('SELECT $1::int AS n', 5);
      });
      expect(sent).toEqual(['BEGIN', 'SELECT $1::int AS n', 'COMMIT']);
    } finally {
      spy.mockRestore();
    }
    const rows = await prisma.$queryRaw<Array<{ id: bigint; body: string; at: Date }>>`
      SELECT id, body, at FROM notes WHERE id >= 10 ORDER BY id`;
    expect(rows).toEqual([{ id: 10n, body: 'kept', at: new Date('2026-12-06T09:00:00Z') }]);
  });

  it('a statement kept for the commit runs before any statement sent after it', async () => {
    const seen = await sqlOf(prisma).transaction(async (tx) => {
      await tx.$executeRaw`INSERT INTO notes (id, body, at) VALUES (${20n}, ${'one'}, now())`;
      expect(tx.$executeRawAtCommit?.(Prisma.sql`UPDATE notes SET body = ${'two'} WHERE id = ${20n}`)).toBe(
        true,
      );
      const rows = await tx.$queryRaw<Array<{ body: string }>>`SELECT body FROM notes WHERE id = ${20n}`;
      // Kept again after it went out: the commit carries this one.
      expect(tx.$executeRawAtCommit?.(Prisma.sql`UPDATE notes SET body = ${'three'} WHERE id = ${20n}`)).toBe(
        true,
      );
      return rows;
    });
    expect(seen).toEqual([{ body: 'two' }]);
    expect(await prisma.$queryRaw`SELECT body FROM notes WHERE id = 20`).toEqual([{ body: 'three' }]);
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

  it('a statement that recurs is prepared once per connection, and each run answers with its own values', async () => {
    const one = createPrisma(db.url, { max: 1 });
    try {
      const text = 'SELECT $1::int AS n, $2::text AS s';
      for (let i = 0; i < 8; i++) {
        // Past PostgreSQL's fifth run the plan is a generic one: the values must still be each run's.
        const rows = await sqlOf(one).query(Prisma.sql`SELECT ${i}::int AS n, ${`run ${i}`}::text AS s`);
        expect(rows).toEqual([{ n: i, s: `run ${i}` }]);
      }
      await sqlOf(one).query(Prisma.sql`SELECT ${'once'}::text AS lonely`);
      const prepared = await sqlOf(one).query<{ statement: string }>(
        Prisma.sql`SELECT statement FROM pg_prepared_statements WHERE NOT from_sql`,
      );
      const statements = prepared.map((p) => p.statement);
      expect(statements.filter((s) => s === text)).toHaveLength(1);
      expect(statements.some((s) => s.includes('lonely'))).toBe(false);
    } finally {
      await one.$disconnect();
    }
  });

  it('a kept plan that a table’s new shape broke is dropped, and the statement answers with the new shape', async () => {
    const one = createPrisma(db.url, { max: 1 });
    try {
      await one.$executeRawUnsafe('CREATE TABLE shapes (a int NOT NULL)');
      await one.$executeRawUnsafe('INSERT INTO shapes VALUES (1)');
      const read = () => sqlOf(one).query(Prisma.sql`SELECT * FROM shapes WHERE a = ${1}`);
      for (let i = 0; i < 4; i++) expect(await read()).toEqual([{ a: 1 }]);
      // As a migration applied under a running server would.
      await one.$executeRawUnsafe("ALTER TABLE shapes ADD COLUMN b text NOT NULL DEFAULT 'new'");
      expect(await read()).toEqual([{ a: 1, b: 'new' }]);
      expect(await read()).toEqual([{ a: 1, b: 'new' }]);
    } finally {
      await one.$disconnect();
    }
  });
});
