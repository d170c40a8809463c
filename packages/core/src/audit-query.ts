import type { AuditEventDto, AuditQuery } from '@ccl/contracts';
import { Prisma } from '@ccl/db';
import { type AuditDeps, toAuditDto, writeAudit } from './audit.ts';
import type { AuditRow } from './audit-chain.ts';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';

type ReadDeps = Pick<CoreDeps, 'prisma'> & AuditDeps;

export type { AuditRow } from './audit-chain.ts';

export const AUDIT_COLUMNS = Prisma.sql`
  id, seq, at, actor_user_id AS "actorUserId", actor_session AS "actorSession",
  actor_device AS "actorDevice", action, resource_type AS "resourceType", resource_id AS "resourceId",
  outcome::text AS outcome, request_id AS "requestId", detail, hash, mac`;

/** `%`, `_` and `\` in the user's text match themselves. */
const likePattern = (text: string) => `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * The filters as SQL. `q` is a case-insensitive substring match (ILIKE) over action, resource
 * (type:id), actor and the detail's JSON text rather than to_tsvector: audit searches are for
 * identifiers (user ids, execution UUIDs, `execution.transition`, IP addresses), which a text-search
 * parser splits and stems, and a substring must match inside them. There is no index for it: the
 * scan runs newest first and stops once a page is full, and the other filters narrow it first.
 */
function auditFilter(q: AuditQuery): Prisma.Sql {
  const conds: Prisma.Sql[] = [];
  if (q.actor) conds.push(Prisma.sql`actor_user_id = ${q.actor}`);
  if (q.action) conds.push(Prisma.sql`action = ${q.action}`);
  if (q.outcome) conds.push(Prisma.sql`outcome = ${q.outcome.toUpperCase()}::"AuditOutcome"`);
  if (q.resource) {
    const [type, ...rest] = q.resource.split(':');
    conds.push(Prisma.sql`resource_type = ${type}`);
    if (rest.length) conds.push(Prisma.sql`resource_id = ${rest.join(':')}`);
  }
  if (q.since) conds.push(Prisma.sql`at >= ${q.since}::timestamptz AT TIME ZONE 'UTC'`);
  if (q.until) conds.push(Prisma.sql`at <= ${q.until}::timestamptz AT TIME ZONE 'UTC'`);
  if (q.cursor) conds.push(Prisma.sql`id < ${BigInt(q.cursor)}`);
  if (q.q) {
    conds.push(Prisma.sql`concat_ws(' ', action, resource_type || ':' || coalesce(resource_id, ''),
      actor_user_id, actor_session, actor_device, detail::text) ILIKE ${likePattern(q.q)}`);
  }
  return conds.length ? Prisma.sql`WHERE ${Prisma.join(conds, ' AND ')}` : Prisma.empty;
}

/** The filter as recorded in the audit.read row: only what the reader asked for. */
function filterDetail(q: AuditQuery): Record<string, unknown> {
  const { limit: _limit, ...rest } = q;
  return Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
}

/** Reading the audit log is itself audited; in its own transaction, after the read. */
async function auditRead(deps: ReadDeps, ctx: RequestCtx, q: AuditQuery, rows: number) {
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action: 'audit.read',
      resourceType: 'audit',
      outcome: 'ALLOWED',
      detail: { filter: filterDetail(q), rows },
    }),
  );
}

/** Newest first, cursor = the last id of the previous page. */
export async function listAuditEvents(deps: ReadDeps, ctx: RequestCtx, q: AuditQuery) {
  await authorize(deps, ctx, 'audit:view', { resourceType: 'audit' });
  const rows = await deps.prisma.$queryRaw<AuditRow[]>`
    SELECT ${AUDIT_COLUMNS} FROM audit_events ${auditFilter(q)} ORDER BY id DESC LIMIT ${q.limit + 1}`;
  const page = rows.slice(0, q.limit);
  await auditRead(deps, ctx, q, page.length);
  return {
    items: page.map(toAuditDto),
    next_cursor: rows.length > q.limit ? (page.at(-1)?.id.toString() ?? null) : null,
  };
}

const EXPORT_BATCH = 500;

/**
 * Every matching row, newest first, fetched in batches so memory stays flat however long the log
 * is. Authorizes before returning (so a refusal is an ordinary 403, not a broken download) and
 * records the read once the last row has been produced.
 */
export async function exportAuditEvents(
  deps: ReadDeps,
  ctx: RequestCtx,
  q: AuditQuery,
): Promise<AsyncIterable<AuditEventDto>> {
  await authorize(deps, ctx, 'audit:view', { resourceType: 'audit' });
  async function* rows() {
    let cursor = q.cursor;
    let count = 0;
    for (;;) {
      const batch = await deps.prisma.$queryRaw<AuditRow[]>`
        SELECT ${AUDIT_COLUMNS} FROM audit_events ${auditFilter({ ...q, cursor })}
        ORDER BY id DESC LIMIT ${EXPORT_BATCH}`;
      for (const row of batch) yield toAuditDto(row);
      count += batch.length;
      if (batch.length < EXPORT_BATCH) break;
      cursor = batch.at(-1)?.id.toString();
    }
    await auditRead(deps, ctx, q, count);
  }
  return rows();
}

export const AUDIT_CSV_COLUMNS = [
  'id',
  'seq',
  'at',
  'actor_user_id',
  'actor_session',
  'actor_device',
  'action',
  'resource_type',
  'resource_id',
  'outcome',
  'request_id',
  'detail',
  'hash',
] as const;

/**
 * One CSV field (RFC 4180). A leading =, +, -, @, tab or CR gets a quote mark in front, so a
 * spreadsheet shows text from the log instead of running it as a formula.
 */
function csvField(value: unknown): string {
  let text =
    value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export const auditCsvHeader = () => `${AUDIT_CSV_COLUMNS.join(',')}\r\n`;
export const auditCsvLine = (e: AuditEventDto) =>
  `${AUDIT_CSV_COLUMNS.map((c) => csvField(e[c])).join(',')}\r\n`;
