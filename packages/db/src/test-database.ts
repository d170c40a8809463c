import { randomBytes } from 'node:crypto';
import { dropDatabase, ensureDatabase } from './database-admin.ts';

// This package's own tests cannot use @ccl/testing (it depends on this
// package), so they make their empty databases here, on the same server.
const ADMIN_URL = process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

/** An empty, uniquely named database for one test; drop() removes it. */
export async function createEmptyDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `ccl_test_${randomBytes(6).toString('hex')}`;
  const url = await ensureDatabase(ADMIN_URL, name);
  return { url, drop: () => dropDatabase(ADMIN_URL, name) };
}
