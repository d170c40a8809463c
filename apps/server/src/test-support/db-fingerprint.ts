import type { PrismaClient } from '@ccl/db';

/**
 * Columns a read may touch on purpose (a session's or key's last use); a refused
 * request may update them too, so they are left out of "did anything change".
 */
const VOLATILE_COLUMNS = ['last_activity', 'last_used_at', 'last_seen_at'];
/**
 * Refusals are audited by design, so the audit log (audit_events, its chain head…) changes on a 4xx;
 * `workers` is each worker's heartbeat, rewritten on a timer whatever the requests do.
 */
const isExcluded = (table: string) =>
  table.startsWith('audit_') || table === '_prisma_migrations' || table === 'workers';

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;

export interface Fingerprinter {
  tables: string[];
  /** One hash per table over every row (volatile columns left out); equal means nothing changed. */
  take(): Promise<Record<string, string>>;
}

/** A whole-content fingerprint of every table in `public`; small test databases make it cheap. */
export async function fingerprinter(prisma: PrismaClient): Promise<Fingerprinter> {
  const rows = await prisma.$queryRawUnsafe<Array<{ table_name: string }>>(
    `SELECT table_name FROM information_schema.tables
     WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name`,
  );
  const tables = rows.map((r) => r.table_name).filter((t) => !isExcluded(t));
  const drop = `ARRAY[${VOLATILE_COLUMNS.map((c) => `'${c}'`).join(',')}]`;
  const sql = tables
    .map(
      (t) =>
        `SELECT '${t}' AS t, count(*)::text || ':' || md5(coalesce(string_agg((to_jsonb(x) - ${drop})::text, '|' ORDER BY (to_jsonb(x) - ${drop})::text), '')) AS h FROM ${ident(t)} x`,
    )
    .join(' UNION ALL ');
  return {
    tables,
    async take() {
      const result = await prisma.$queryRawUnsafe<Array<{ t: string; h: string }>>(sql);
      return Object.fromEntries(result.map((r) => [r.t, r.h]));
    },
  };
}

/** The tables whose fingerprints differ. */
export function changedTables(before: Record<string, string>, after: Record<string, string>): string[] {
  return Object.keys({ ...before, ...after }).filter((t) => before[t] !== after[t]);
}
