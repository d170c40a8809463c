import { createHash } from 'node:crypto';
import pg from 'pg';
import { Prisma, type PrismaClient } from './generated/client.ts';

/**
 * Statements on the hot path of every run (event appends, transitions and their audit rows) sent
 * straight to the pool Prisma uses, without Prisma's query interpreter: measured here, a raw
 * statement costs the process a quarter of the CPU of the same `$queryRaw`, and a two-statement
 * transaction a seventh of an interactive `$transaction`. Same connections, same pool size.
 *
 * Results read as Prisma reads them on these paths: bigint as BigInt, timestamp (without time zone,
 * stored as UTC) as a UTC Date. Errors of an unreachable or lost database carry Prisma's codes
 * (database-retry.ts waits on those), so callers cannot tell which way a statement went.
 */
export interface SqlRunner {
  query<T>(sql: Prisma.Sql): Promise<T[]>;
  /** BEGIN, `fn` with a client whose `$queryRaw`/`$executeRaw` run in the transaction, COMMIT. */
  transaction<T>(fn: (tx: SqlTx) => Promise<T>): Promise<T>;
}

/** The part of a Prisma transaction client the raw paths use (tagged templates or Prisma.Sql). */
export interface SqlTx {
  $queryRaw<T = unknown>(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Promise<T>;
  $executeRaw(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]): Promise<number>;
  $queryRawUnsafe<T = unknown>(query: string, ...values: unknown[]): Promise<T>;
  /**
   * The transaction's last statement, sent with its COMMIT in one message: a row lock it takes is
   * held for that one round trip, not for two. Its outcome is the commit's. False (nothing kept)
   * when it cannot be sent that way: the caller runs it itself.
   */
  $executeRawAtCommit?(query: Prisma.Sql): boolean;
}

const pools = new WeakMap<object, pg.Pool>();

/** How long a transaction waits for a pooled connection: Prisma's maxWait (prisma.ts), then P2028. */
export const TRANSACTION_MAX_WAIT_MS = 10_000;

/**
 * A pooled connection, or P2028 after `ms` as Prisma's interactive transactions give (the writes
 * that retry on it wait, saying so, rather than queue unseen). One that comes later goes back at once.
 */
function connectWithin(pool: pg.Pool, ms: number): Promise<pg.PoolClient> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(Object.assign(new Error(`no pooled database connection within ${ms} ms`), { code: 'P2028' }));
    }, ms);
    pool.connect().then(
      (client) => {
        if (settled) return client.release();
        settled = true;
        clearTimeout(timer);
        resolve(client);
      },
      (err: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(prismaLike(err));
      },
    );
  });
}

/** Remembers the pool under a client createPrisma made, for sqlOf. */
export function registerPool(prisma: PrismaClient, pool: pg.Pool): void {
  pools.set(prisma, pool);
}

const INT8 = 20;
const TIMESTAMP = 1114;
const TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8) return (value: string) => BigInt(value);
    if (oid === TIMESTAMP) return (value: string) => new Date(`${value.replace(' ', 'T')}Z`);
    return pg.types.getTypeParser(oid, format);
  },
};

/**
 * A value as Prisma sends it: BigInt as its digits (pg has no BigInt of its own), a Date as its UTC
 * instant (pg would send local time, which a timestamp without time zone would take as UTC).
 */
const param = (value: unknown): unknown =>
  typeof value === 'bigint' ? value.toString() : value instanceof Date ? value.toISOString() : value;

const asSql = (query: TemplateStringsArray | Prisma.Sql, values: unknown[]): Prisma.Sql =>
  query instanceof Prisma.Sql ? query : Prisma.sql(query, ...values);

const NOT_REACHED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P03',
  // too_many_connections: refused at connect, nothing sent; a busy database, not an error.
  '53300',
]);
const CONNECTION_LOST = /Connection terminated|connection error|Connection ended|terminating connection/i;

/**
 * pg's error as Prisma's for the same cause: not reachable (P1001), the connection lost (P1017:
 * the statement may have committed), timed out (P1008), no pooled connection in time (P2024).
 * Anything else is the server's own error, passed on as it is.
 */
function prismaLike(err: unknown): unknown {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : String(err);
  let mapped: string | undefined;
  if (NOT_REACHED.has(code)) mapped = 'P1001';
  else if (code === 'ETIMEDOUT') mapped = 'P1008';
  else if (/timeout exceeded when trying to connect/i.test(message)) mapped = 'P2024';
  else if (
    code === 'ECONNRESET' ||
    code === 'EPIPE' ||
    code.startsWith('08') ||
    code === '57P01' ||
    code === '57P02' ||
    CONNECTION_LOST.test(message)
  )
    mapped = 'P1017';
  return mapped ? Object.assign(new Error(message), { code: mapped }) : err;
}

/** How many statement texts are prepared by name, at most: each costs every connection a plan. */
const PREPARED_MAX = 64;
/** A text sent this often is prepared from then on. */
const PREPARE_AFTER = 3;
/** Texts seen fewer than PREPARE_AFTER times (forgotten all at once past 1,000 of them). */
const sightings = new Map<string, number>();
const preparedNames = new Map<string, string>();
/** Texts whose kept plan a table's change broke: sent unnamed from then on. */
const unpreparable = new Set<string>();

/**
 * The name a statement is prepared under, once its text has recurred: each connection then parses
 * it once and PostgreSQL keeps its plan (a generic one after five runs), where an unnamed statement
 * is parsed, analysed and planned on every run. Measured here, parsing and planning took a third
 * of the database's CPU on the hot path. Texts are the statements' shapes (values are parameters),
 * so the hot ones are a few dozen; past PREPARED_MAX, new ones go unnamed.
 */
function preparedName(text: string): string | undefined {
  const known = preparedNames.get(text);
  if (known !== undefined || preparedNames.size >= PREPARED_MAX || unpreparable.has(text)) return known;
  const seen = (sightings.get(text) ?? 0) + 1;
  if (seen < PREPARE_AFTER) {
    if (sightings.size >= 1000) sightings.clear();
    sightings.set(text, seen);
    return undefined;
  }
  sightings.delete(text);
  const name = `ccl_${createHash('sha256').update(text).digest('base64url').slice(0, 24)}`;
  preparedNames.set(text, name);
  return name;
}

/** A plan PostgreSQL will not reuse since a table changed shape under it (a `SELECT *` after a migration). */
const PLAN_CHANGED = '0A000';

/**
 * One statement, prepared by name once its text recurs (preparedName). Autocommit (`alone`): a kept
 * plan that a table's new shape broke is dropped and the statement sent again unnamed; in a
 * transaction the error stands (it aborted the transaction), and the next run goes unnamed.
 */
async function run<T>(
  client: pg.Pool | pg.PoolClient,
  sql: Prisma.Sql,
  values: readonly unknown[] = sql.values,
  alone = false,
): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
  const send = (name: string | undefined) =>
    client.query<T & pg.QueryResultRow>({ name, text: sql.text, values: values.map(param), types: TYPES });
  const name = preparedName(sql.text);
  try {
    return await send(name);
  } catch (err) {
    if (name === undefined || (err as { code?: unknown }).code !== PLAN_CHANGED) throw prismaLike(err);
    unpreparable.add(sql.text);
    preparedNames.delete(sql.text);
    if (!alone) throw prismaLike(err);
    try {
      return await send(undefined);
    } catch (again) {
      throw prismaLike(again);
    }
  }
}

/**
 * A statement with its values written in as literals, for a message of several statements (which
 * cannot carry parameters); null when a value is of a kind not written this way.
 */
function inlined(sql: Prisma.Sql): string | null {
  // Only the statement's own placeholders may look like one: its text must hold no other `$` digit.
  if (/\$\d/.test(sql.strings.join(''))) return null;
  const literals: string[] = [];
  for (const given of sql.values) {
    const value = param(given);
    if (value === null || value === undefined) literals.push('NULL');
    else if (typeof value === 'bigint') literals.push(`'${value.toString()}'`);
    else if (typeof value === 'number' && Number.isFinite(value)) literals.push(`'${value}'`);
    else if (typeof value === 'boolean') literals.push(`'${value}'`);
    else if (Array.isArray(value) && value.every((v) => typeof v === 'string'))
      literals.push(value.length ? `ARRAY[${value.map((v) => pg.escapeLiteral(v)).join(',')}]` : `'{}'`);
    else if (typeof value === 'string') literals.push(pg.escapeLiteral(value));
    else return null;
  }
  return sql.text.replace(/\$(\d+)/g, (_, n: string) => literals[Number(n) - 1] ?? 'NULL');
}

interface RawTx extends SqlTx {
  /** The statement kept for the commit's message, written out. */
  atCommit: string | null;
  /** Whether BEGIN has gone out (it waits for the first statement, to go in the same message). */
  begun: boolean;
}

/** The last result of a message that held several statements (pg answers with one per statement). */
const lastOf = <T extends pg.QueryResultRow>(result: pg.QueryResult<T> | pg.QueryResult<T>[]) =>
  Array.isArray(result) ? (result.at(-1) as pg.QueryResult<T>) : result;

function txOf(client: pg.PoolClient): RawTx {
  /**
   * A statement of the transaction. The first goes out in one message with the BEGIN before it
   * (a round trip saved on every transaction) when its values can be written into its text;
   * otherwise BEGIN goes alone first.
   */
  const send = async <T>(sql: Prisma.Sql, values?: readonly unknown[]) => {
    // What must go before the statement: BEGIN, and a statement kept for the commit, which runs
    // first since it was asked for first (a second audit row must see the first one's head).
    const before = [...(tx.begun ? [] : ['BEGIN']), ...(tx.atCommit === null ? [] : [tx.atCommit])];
    tx.begun = true;
    tx.atCommit = null;
    if (before.length === 0) return run<T>(client, sql, values);
    const text = values === undefined ? inlined(sql) : null;
    try {
      if (text === null) {
        await client.query(before.join(';\n'));
        return await run<T>(client, sql, values);
      }
      const results = await client.query({ text: `${before.join(';\n')};\n${text}`, types: TYPES });
      return lastOf(results as unknown as pg.QueryResult<T & pg.QueryResultRow>);
    } catch (err) {
      throw prismaLike(err);
    }
  };
  const tx: RawTx = {
    atCommit: null,
    begun: false,
    $executeRawAtCommit(query: Prisma.Sql) {
      const text = inlined(query);
      if (text === null || tx.atCommit !== null) return false;
      tx.atCommit = text;
      return true;
    },
    async $queryRaw<T>(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]) {
      return (await send(asSql(query, values))).rows as T;
    },
    async $executeRaw(query: TemplateStringsArray | Prisma.Sql, ...values: unknown[]) {
      return (await send(asSql(query, values))).rowCount ?? 0;
    },
    async $queryRawUnsafe<T>(query: string, ...values: unknown[]) {
      return (await send(Prisma.raw(query), values)).rows as T;
    },
  };
  return tx;
}

/**
 * The raw runner of a client createPrisma made; for any other (a test's stand-in), one that goes
 * through the client itself, so behaviour a stand-in injects still applies.
 */
export function sqlOf(prisma: Pick<PrismaClient, '$queryRaw' | '$transaction'>): SqlRunner {
  const pool = pools.get(prisma);
  // After $disconnect the pool is ended; a client used again reconnects through Prisma's own.
  if (!pool || pool.ending || pool.ended) {
    return {
      query: <T>(sql: Prisma.Sql) => prisma.$queryRaw<T[]>(sql),
      transaction: <T>(fn: (tx: SqlTx) => Promise<T>) =>
        prisma.$transaction((tx) => fn(tx as unknown as SqlTx)) as Promise<T>,
    };
  }
  return {
    async query<T>(sql: Prisma.Sql) {
      // A statement on its own waits for a connection as a transaction does, then gives P2028.
      return withClient(pool, async (client) => (await run<T>(client, sql, sql.values, true)).rows);
    },
    transaction<T>(fn: (tx: SqlTx) => Promise<T>) {
      return withClient(pool, async (client, broke) => {
        try {
          const tx = txOf(client);
          const result = await fn(tx);
          // A transaction that sent nothing has nothing to commit, unless a statement waits for COMMIT.
          if (tx.atCommit === null) {
            if (tx.begun) await run(client, Prisma.sql`COMMIT`);
          } else {
            try {
              await client.query(`${tx.begun ? '' : 'BEGIN;\n'}${tx.atCommit};\nCOMMIT`);
            } catch (err) {
              throw prismaLike(err);
            }
          }
          return result;
        } catch (err) {
          // A ROLLBACK outside a transaction only warns; sent anyway, as BEGIN may have gone out. A
          // connection that could not roll back is closed, not handed to the next caller.
          await client.query('ROLLBACK').catch(broke);
          throw err;
        }
      });
    },
  };
}

/**
 * A pooled connection for `fn`, waited for as connectWithin does. A connection lost meanwhile must
 * not crash the process; one that broke (lost, or as `fn` says through `broke`) is closed rather
 * than handed to the next caller.
 */
async function withClient<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient, broke: (err: Error) => void) => Promise<T>,
): Promise<T> {
  const client = await connectWithin(pool, TRANSACTION_MAX_WAIT_MS);
  let broken: Error | undefined;
  const broke = (err: Error) => {
    broken = err;
  };
  client.on('error', broke);
  try {
    return await fn(client, broke);
  } catch (err) {
    if ((err as { code?: unknown }).code === 'P1017') broken ??= err as Error;
    throw err;
  } finally {
    client.removeListener('error', broke);
    client.release(broken);
  }
}

/** A JSON value for a jsonb column in a raw statement: SQL NULL for null or undefined. */
export const jsonb = (value: unknown): Prisma.Sql =>
  value === undefined || value === null ? Prisma.sql`NULL` : Prisma.sql`${JSON.stringify(value)}::jsonb`;

/**
 * A row of `SELECT *` (or of `to_jsonb`) under Prisma's field names: every column's name is its
 * field's in snake_case (`task_id` → `taskId`).
 */
export function camelRow<T>(row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row))
    out[column.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())] = value;
  return out as T;
}
