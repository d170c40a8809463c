import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { migrateDatabase } from './migrate.ts';
import { checksumOf, DEFAULT_MIGRATIONS_DIR, readMigrationFiles } from './migration-files.ts';
import { createEmptyDatabase } from './test-database.ts';

interface Row {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  rolled_back_at: Date | null;
  applied_steps_count: number;
  logs: string | null;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function emptyDatabase(): Promise<string> {
  const db = await createEmptyDatabase();
  cleanups.push(db.drop);
  return db.url;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

const history = (url: string) => query<Row>(url, 'SELECT * FROM "_prisma_migrations" ORDER BY started_at');

describe('migrateDatabase', () => {
  it('applies every migration once, recorded as Prisma records them', async () => {
    const url = await emptyDatabase();
    const files = await readMigrationFiles(DEFAULT_MIGRATIONS_DIR);
    expect(files.length).toBeGreaterThan(0);

    expect(await migrateDatabase(url)).toEqual({ applied: files.map((f) => f.name) });
    expect(await migrateDatabase(url)).toEqual({ applied: [] });

    const rows = await history(url);
    expect(rows.map((r) => r.migration_name)).toEqual(files.map((f) => f.name));
    for (const [i, row] of rows.entries()) {
      expect(row.checksum).toBe(files[i]?.checksum);
      expect(row.finished_at).toBeInstanceOf(Date);
      expect(row.rolled_back_at).toBeNull();
      expect(row.logs).toBeNull();
      expect(row.applied_steps_count).toBe(1);
    }
  });

  it('refuses to run when an applied migration was edited, naming it', async () => {
    const url = await emptyDatabase();
    const [first] = await migrateDatabase(url).then((r) => r.applied);
    await query(url, `UPDATE "_prisma_migrations" SET checksum = '${checksumOf('something else')}'`);

    const error = await migrateDatabase(url).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toContain(`Migration ${first} was modified after it was applied`);
  });

  it('refuses to run past a failed migration, naming it', async () => {
    const url = await emptyDatabase();
    const [first] = await migrateDatabase(url).then((r) => r.applied);
    await query(url, `UPDATE "_prisma_migrations" SET finished_at = NULL, logs = 'boom'`);

    await expect(migrateDatabase(url)).rejects.toThrow(`Migration ${first} failed in this database`);
  });

  it('applies once when two processes migrate a fresh database at the same time', async () => {
    const url = await emptyDatabase();
    const files = await readMigrationFiles(DEFAULT_MIGRATIONS_DIR);

    const results = await Promise.all([migrateDatabase(url), migrateDatabase(url)]);

    expect(results.flatMap((r) => r.applied)).toEqual(files.map((f) => f.name));
    expect(await history(url)).toHaveLength(files.length);
  });

  it('rolls a failing migration back whole and lets a fixed one apply later', async () => {
    const url = await emptyDatabase();
    const dir = await mkdtemp(join(tmpdir(), 'ccl-migrations-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const write = async (name: string, sql: string) => {
      await mkdir(join(dir, name), { recursive: true });
      await writeFile(join(dir, name, 'migration.sql'), sql);
    };
    await write('001_a', 'CREATE TABLE a (id int);');
    await write('002_b', 'CREATE TABLE b (id int);\nSELECT 1 / 0;');

    await expect(migrateDatabase(url, { migrationsDir: dir })).rejects.toThrow(
      'Migration 002_b failed and was rolled back: division by zero',
    );
    expect(await query(url, `SELECT to_regclass('a') AS a, to_regclass('b') AS b`)).toEqual([
      { a: 'a', b: null },
    ]);
    const failed = (await history(url)).find((r) => r.migration_name === '002_b');
    expect(failed?.rolled_back_at).toBeInstanceOf(Date);
    expect(failed?.logs).toContain('division by zero');

    await write('002_b', 'CREATE TABLE b (id int);');
    expect(await migrateDatabase(url, { migrationsDir: dir })).toEqual({ applied: ['002_b'] });
  });
});
