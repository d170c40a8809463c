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
