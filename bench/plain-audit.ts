// Bench only: the audit writer with its hash chain taken out, for the audit chain cost scenario
// (audit-cost.ts). Loaded in place of packages/core/src/audit.ts by plain-audit-hooks.mjs; the
// product has no setting that turns the chain off. Each row is written with the same content, in
// the caller's transaction, as one plain INSERT: no lock on audit_chain_head (which orders every
// audited transaction behind the previous one until it commits), no HMACs, no head update. `seq`
// comes from the table's own id sequence; `hash` holds the marker 'unchained' because the
// append-only trigger refuses a row without one. Everything else is the real module.

import { type AuditDeps, type AuditEntry, auditDetail } from '../packages/core/src/audit.ts';
import { storableText, storedDetail } from '../packages/core/src/audit-chain.ts';
import type { RequestCtx } from '../packages/core/src/context.ts';
import type { Tx } from '../packages/core/src/deps.ts';
import { Prisma } from '../packages/db/src/generated/client.ts';

export * from '../packages/core/src/audit.ts';

export const UNCHAINED = 'unchained';

export async function writeAudit(
  _deps: AuditDeps,
  tx: Tx,
  ctx: RequestCtx,
  entry: AuditEntry,
): Promise<void> {
  const { actor } = ctx;
  const detail = auditDetail(ctx, entry);
  await tx.$executeRaw`
    INSERT INTO audit_events (id, seq, at, actor_user_id, actor_session, actor_device, action, resource_type,
                              resource_id, outcome, request_id, detail, hash)
    SELECT n.id, n.id, ${new Date().toISOString()}::timestamptz AT TIME ZONE 'UTC',
           ${actor.via === 'anonymous' ? null : actor.userId}, ${actor.sessionId ?? null}, ${actor.deviceId ?? null},
           ${entry.action}, ${entry.resourceType}, ${storableText(entry.resourceId ?? null)},
           ${entry.outcome}::"AuditOutcome", ${ctx.requestId ?? null}, ${JSON.stringify(storedDetail(detail))}::jsonb,
           ${UNCHAINED}
    FROM (SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) AS id) AS n`;
}

/**
 * chainedAudit's CTEs without the chain: the row picked the same way, inserted with the same
 * content, `seq` from the id sequence and the marker hash; the head is not touched.
 */
export function chainedAudit(
  _deps: AuditDeps,
  ctx: RequestCtx,
  when: Prisma.Sql,
  variants: ReadonlyArray<{ key: string; entry: AuditEntry }>,
  pick?: Prisma.Sql,
): Prisma.Sql {
  const { actor } = ctx;
  const rows = variants.map(
    ({ key, entry }) => Prisma.sql`(${key}, ${entry.action}, ${entry.resourceType},
      ${storableText(entry.resourceId ?? null)}, ${entry.outcome}::"AuditOutcome",
      ${JSON.stringify(storedDetail(auditDetail(ctx, entry)))}::jsonb)`,
  );
  return Prisma.sql`
    chosen AS (
      SELECT v.* FROM (VALUES ${Prisma.join(rows)}) AS v(key, action, resource_type, resource_id, outcome, detail)
      WHERE v.key = ${pick ?? Prisma.sql`${variants[0]?.key ?? ''}`} AND ${when}),
    head AS (SELECT 1 WHERE false),
    audit AS (
      INSERT INTO audit_events (id, seq, at, actor_user_id, actor_session, actor_device, action, resource_type,
                                resource_id, outcome, request_id, detail, hash)
      SELECT n.id, n.id, ${new Date().toISOString()}::timestamptz AT TIME ZONE 'UTC',
             ${actor.via === 'anonymous' ? null : actor.userId}, ${actor.sessionId ?? null}, ${actor.deviceId ?? null},
             c.action, c.resource_type, c.resource_id, c.outcome, ${ctx.requestId ?? null}, c.detail, ${UNCHAINED}
      FROM chosen AS c, LATERAL (SELECT nextval(pg_get_serial_sequence('audit_events', 'id')) AS id) AS n
      RETURNING seq)`;
}
