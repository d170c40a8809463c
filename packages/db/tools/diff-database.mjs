// Usage: node --experimental-wasm-modules diff-database.mjs <database-url> <schema.prisma> <migrations-dir>
// Prints JSON: `sql`, the script that would take the live database to the
// schema (empty when they match), and `history`, what `prisma migrate status`
// would conclude from the database's _prisma_migrations and the directory.
import { NO_FILTERS, openSchemaEngine, readMigrationList, readSchemaFiles } from './schema-engine.mjs';

const [databaseUrl, schemaPath, migrationsDir] = process.argv.slice(2);
if (!databaseUrl || !schemaPath || !migrationsDir) {
  console.error('usage: diff-database.mjs <database-url> <schema.prisma> <migrations-dir>');
  process.exit(2);
}

const files = await readSchemaFiles(schemaPath);
const engine = await openSchemaEngine(databaseUrl, files);
const diff = await engine.diff({
  from: { tag: 'schemaDatasource', files, configDir: migrationsDir },
  to: { tag: 'schemaDatamodel', files },
  script: true,
  exitCode: true,
  filters: NO_FILTERS,
});
const history = await engine.diagnoseMigrationHistory({
  migrationsList: await readMigrationList(migrationsDir),
  optInToShadowDatabase: false,
  filters: NO_FILTERS,
});
// exitCode 2 means the diff is not empty.
console.log(JSON.stringify({ sql: diff.exitCode === 2 ? diff.stdout : '', history }));
process.exit(0);
