import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from './migrate.ts';
import { DEFAULT_MIGRATIONS_DIR } from './migration-files.ts';
import { createPrisma } from './prisma.ts';
import { createEmptyDatabase } from './test-database.ts';

const SCHEMA = fileURLToPath(new URL('../../../prisma/schema.prisma', import.meta.url));
const DIFF_TOOL = fileURLToPath(new URL('../tools/diff-database.mjs', import.meta.url));
const CREATE_MIGRATION = fileURLToPath(new URL('../../../scripts/create-migration.mjs', import.meta.url));

interface DiffReport {
  sql: string;
  history: {
    editedMigrationNames: string[];
    failedMigrationNames: string[];
    hasMigrationsTable: boolean;
    history: unknown;
  };
}

/** The schema engine is WebAssembly that vitest cannot load, so it runs in plain node. */
async function diffDatabaseToSchema(url: string): Promise<DiffReport> {
  const { stdout } = await promisify(execFile)(process.execPath, [
    '--no-warnings',
    '--experimental-wasm-modules',
    DIFF_TOOL,
    url,
    SCHEMA,
    DEFAULT_MIGRATIONS_DIR,
  ]);
  return JSON.parse(stdout) as DiffReport;
}

describe('prisma/migrations', () => {
  let db: { url: string; drop(): Promise<void> };
  let report: DiffReport;
  beforeAll(async () => {
    db = await createEmptyDatabase();
    await migrateDatabase(db.url);
    report = await diffDatabaseToSchema(db.url);
  });
  afterAll(() => db?.drop());

  it('produce exactly the schema in prisma/schema.prisma', () => {
    // On failure this prints the SQL still missing from the migrations; create
    // it with `node --experimental-wasm-modules scripts/create-migration.mjs <name>`.
    expect(report.sql, `migrations differ from schema.prisma by:\n${report.sql}`).toBe('');
  });

  it('leave a history that prisma migrate status accepts', () => {
    expect(report.history).toEqual({
      editedMigrationNames: [],
      failedMigrationNames: [],
      hasMigrationsTable: true,
      history: null,
    });
  });

  it('replay in a shadow database, so create-migration can diff against them', async () => {
    // The audit_chain trigger's $$-quoted body once broke the replay (the adapter split it at ';').
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--no-warnings', '--experimental-wasm-modules', CREATE_MIGRATION, 'nothing_to_create'],
      {
        env: {
          ...process.env,
          MIGRATION_ADMIN_URL:
            process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres',
        },
      },
    );
    expect(stdout).toContain('already matches the migrations; nothing to create');
  });

  it('give a database the generated client can use', async () => {
    const prisma = createPrisma(db.url, { max: 2 });
    try {
      await prisma.role.create({ data: { name: 'admin', permissions: ['task:submit'] } });
      const user = await prisma.user.create({
        data: { id: 'u1', roleName: 'admin' },
        include: { role: true },
      });
      expect(user.role.permissions).toEqual(['task:submit']);
    } finally {
      await prisma.$disconnect();
    }
  });
});
