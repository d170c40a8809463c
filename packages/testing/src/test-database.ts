import { randomBytes } from 'node:crypto';
import { dropDatabase, ensureDatabase, migrateDatabase } from '@ccl/db';

export interface TestDatabase {
  url: string;
  /** Disconnects whoever is still connected and drops the database. */
  drop(): Promise<void>;
}

function adminUrl(): string {
  return process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';
}

/** A new database with all migrations applied, named so that parallel runs never collide. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = adminUrl();
  const name = `ccl_test_${randomBytes(6).toString('hex')}`;
  const url = await ensureDatabase(admin, name);
  const drop = () => dropDatabase(admin, name);
  try {
    await migrateDatabase(url);
  } catch (err) {
    await drop();
    throw err;
  }
  return { url, drop };
}
