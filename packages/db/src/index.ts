export { dropDatabase, ensureDatabase } from './database-admin.ts';
export { databaseNameFromUrl, databaseUrlFor, redactUrl } from './database-url.ts';
export {
  APP_DATABASE,
  type EmbeddedPostgresHandle,
  type EmbeddedPostgresOptions,
  startEmbeddedPostgres,
} from './embedded-postgres.ts';
export type {
  AuditEvent,
  Device,
  DeviceState,
  Execution,
  ExecutionEvent,
  Project,
  Role,
  RuntimeSession,
  Task,
  User,
} from './generated/client.ts';
export { AuditOutcome, ExecutionState, Prisma, PrismaClient } from './generated/client.ts';
export { type MigrateOptions, type MigrateResult, migrateDatabase } from './migrate.ts';
export { DEFAULT_MIGRATIONS_DIR } from './migration-files.ts';
export { pingDatabase } from './ping.ts';
export { type CreatePrismaOptions, createPrisma } from './prisma.ts';
export { camelRow, jsonb, type SqlRunner, type SqlTx, sqlOf } from './raw-sql.ts';
