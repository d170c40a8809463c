import { randomUUID } from 'node:crypto';
import pg from 'pg';
import {
  checksumMatches,
  DEFAULT_MIGRATIONS_DIR,
  type MigrationFile,
  readMigrationFiles,
} from './migration-files.ts';

export interface MigrateOptions {
  /** Defaults to the repository's `prisma/migrations`. */
  migrationsDir?: string;
  log?: (message: string) => void;
}

export interface MigrateResult {
  /** Names of the migrations this call applied, in order. */
  applied: string[];
}

/**
 * The advisory lock key Prisma Migrate takes, so that this migrator, other
 * instances of it and the Prisma CLI never migrate the same database at once.
 */
const PRISMA_MIGRATE_LOCK = 72707369;

// Prisma's own definition, so `prisma migrate status` reads our history.
const CREATE_MIGRATIONS_TABLE = `
CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id"                  VARCHAR(36) PRIMARY KEY NOT NULL,
  "checksum"            VARCHAR(64) NOT NULL,
  "finished_at"         TIMESTAMPTZ,
  "migration_name"      VARCHAR(255) NOT NULL,
  "logs"                TEXT,
  "rolled_back_at"      TIMESTAMPTZ,
  "started_at"          TIMESTAMPTZ NOT NULL DEFAULT now(),
  "applied_steps_count" INTEGER NOT NULL DEFAULT 0
)`;

interface RecordedMigration {
  migration_name: string;
  checksum: string;
  finished_at: Date | null;
  logs: string | null;
}

/**
 * Applies the migrations in `migrationsDir` that the database has not seen,
 * each in its own transaction, recording them in Prisma's `_prisma_migrations`.
 * Refuses to run when an applied migration was edited or one is left failed.
 * Scripts must not manage transactions themselves (no BEGIN/COMMIT, no
 * CREATE INDEX CONCURRENTLY).
 */
export async function migrateDatabase(
  databaseUrl: string,
  opts: MigrateOptions = {},
): Promise<MigrateResult> {
  const log = opts.log ?? (() => {});
  const migrations = await readMigrationFiles(opts.migrationsDir ?? DEFAULT_MIGRATIONS_DIR);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await lockMigrations(client, log);
    await client.query(CREATE_MIGRATIONS_TABLE);
    const recorded = await client.query<RecordedMigration>(
      `SELECT migration_name, checksum, finished_at, logs FROM "_prisma_migrations"
       WHERE rolled_back_at IS NULL ORDER BY started_at`,
    );
    const pending = pendingMigrations(migrations, recorded.rows);
    const known = new Set(migrations.map((m) => m.name));
    for (const row of recorded.rows) {
      if (!known.has(row.migration_name)) {
        log(`the database has migration ${row.migration_name}, which this version does not know`);
      }
    }
    const applied: string[] = [];
    for (const migration of pending) {
      log(`applying migration ${migration.name}`);
      await applyMigration(client, migration);
      applied.push(migration.name);
    }
    if (applied.length === 0) log('database schema is up to date');
    return { applied };
  } finally {
    await client.end();
  }
}

/** A session lock, so client.end() releases it even when a query fails. */
async function lockMigrations(client: pg.Client, log: (message: string) => void): Promise<void> {
  const attempt = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [
    PRISMA_MIGRATE_LOCK,
  ]);
  if (attempt.rows[0]?.locked) return;
  log('another process is migrating this database; waiting for it to finish');
  await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
}

function pendingMigrations(migrations: MigrationFile[], recorded: RecordedMigration[]): MigrationFile[] {
  const byName = new Map(migrations.map((m) => [m.name, m]));
  for (const row of recorded) {
    if (row.finished_at === null) {
      throw new Error(
        `Migration ${row.migration_name} failed in this database and was never resolved, so no ` +
          'migration will be applied. Repair the database by hand, then mark it rolled back ' +
          `(prisma migrate resolve --rolled-back ${row.migration_name}).` +
          (row.logs ? `\nIts log: ${row.logs}` : ''),
      );
    }
    const file = byName.get(row.migration_name);
    if (file && !checksumMatches(file.sql, row.checksum)) {
      throw new Error(
        `Migration ${row.migration_name} was modified after it was applied to this database ` +
          `(recorded checksum ${row.checksum}, file ${file.checksum}). Restore the original ` +
          'migration.sql and put the change in a new migration.',
      );
    }
  }
  const done = new Set(recorded.map((row) => row.migration_name));
  return migrations.filter((m) => !done.has(m.name));
}

async function applyMigration(client: pg.Client, migration: MigrationFile): Promise<void> {
  const id = randomUUID();
  await client.query('BEGIN');
  try {
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count)
       VALUES ($1, $2, $3, clock_timestamp(), 0)`,
      [id, migration.checksum, migration.name],
    );
    // Without parameters pg uses the simple query protocol, which runs a multi-statement script.
    await client.query(migration.sql);
    await client.query(
      `UPDATE "_prisma_migrations" SET finished_at = clock_timestamp(), applied_steps_count = 1 WHERE id = $1`,
      [id],
    );
    await client.query('COMMIT');
  } catch (err) {
    await recordRolledBack(client, migration, err);
    throw new Error(`Migration ${migration.name} failed and was rolled back: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

/**
 * The transaction undid the migration, so leave the row Prisma would have
 * after `migrate resolve --rolled-back`: an audit trail that blocks nothing.
 */
async function recordRolledBack(client: pg.Client, migration: MigrationFile, err: unknown): Promise<void> {
  try {
    await client.query('ROLLBACK');
    await client.query(
      `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, logs, rolled_back_at, applied_steps_count)
       VALUES ($1, $2, $3, $4, now(), 0)`,
      [randomUUID(), migration.checksum, migration.name, errorMessage(err)],
    );
  } catch {
    // The connection is likely gone; the original error is the one worth reporting.
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
