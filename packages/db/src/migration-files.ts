import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's `prisma/migrations`, found from this file so the cwd does not matter. */
export const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../../../prisma/migrations', import.meta.url));

export interface MigrationFile {
  /** Directory name, e.g. `20250101120000_init`; also the `migration_name` Prisma records. */
  name: string;
  sql: string;
  /** sha256 hex of the script, as Prisma computes it. */
  checksum: string;
}

export function checksumOf(script: string): string {
  return createHash('sha256').update(script, 'utf8').digest('hex');
}

/**
 * Whether a recorded checksum belongs to this script. Like Prisma, a script
 * whose line endings git converted (LF <-> CRLF) still matches.
 */
export function checksumMatches(script: string, recorded: string): boolean {
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll(/\r?\n/g, '\r\n')];
  return variants.some((variant) => checksumOf(variant) === recorded);
}

/** `<dir>/*\/migration.sql`, in name order (the order Prisma applies them in). */
export async function readMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const path = join(dir, name, 'migration.sql');
      const sql = await readFile(path, 'utf8').catch((err: unknown) => {
        throw new Error(`Migration ${name} has no readable ${path}`, { cause: err });
      });
      return { name, sql, checksum: checksumOf(sql) };
    }),
  );
}
