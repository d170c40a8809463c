// Creates prisma/migrations/<UTC timestamp>_<name>/migration.sql holding the SQL
// that takes the database the existing migrations produce to prisma/schema.prisma.
//
//   node --experimental-wasm-modules scripts/create-migration.mjs <name>
//
// Uses Prisma's WebAssembly schema engine, so no engine binary download is
// needed. It replays the migrations in a shadow database on the PostgreSQL at
// MIGRATION_ADMIN_URL (default postgresql://postgres@127.0.0.1:5432/postgres),
// inside a scratch database it creates and drops again.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  LOCKFILE_CONTENT,
  LOCKFILE_NAME,
  NO_FILTERS,
  openSchemaEngine,
  readMigrationList,
  readSchemaFiles,
  withScratchDatabase,
} from '../packages/db/tools/schema-engine.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const schemaPath = join(root, 'prisma', 'schema.prisma');
const migrationsDir = join(root, 'prisma', 'migrations');
const adminUrl = process.env.MIGRATION_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

const name = process.argv[2];
if (!name || !/^[a-z0-9_]+$/.test(name)) {
  console.error('usage: node --experimental-wasm-modules scripts/create-migration.mjs <name>');
  console.error('  <name>: lower-case letters, digits and underscores, e.g. add_task_labels');
  process.exit(2);
}

function utcTimestamp(date) {
  return date.toISOString().replace(/\D/g, '').slice(0, 14);
}

const schemaFiles = await readSchemaFiles(schemaPath);
const migrationsList = await readMigrationList(migrationsDir);
const diff = await withScratchDatabase(adminUrl, async (url) => {
  const engine = await openSchemaEngine(url, schemaFiles);
  try {
    return await engine.diff({
      from: { tag: 'migrations', ...migrationsList },
      to: { tag: 'schemaDatamodel', files: schemaFiles },
      script: true,
      exitCode: true,
      filters: NO_FILTERS,
    });
  } finally {
    engine.free();
  }
});

// exitCode 2 means the diff is not empty.
if (diff.exitCode !== 2 || !diff.stdout) {
  console.log('prisma/schema.prisma already matches the migrations; nothing to create.');
  process.exit(0);
}

const dirName = `${utcTimestamp(new Date())}_${name}`;
await mkdir(join(migrationsDir, dirName), { recursive: true });
await writeFile(join(migrationsDir, dirName, 'migration.sql'), diff.stdout);
await writeFile(join(migrationsDir, LOCKFILE_NAME), LOCKFILE_CONTENT);
console.log(`created prisma/migrations/${dirName}/migration.sql`);
process.exit(0);
