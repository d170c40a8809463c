import { Prisma, type SqlTx } from '@ccl/db';
import { type AuditRow, headMac, lockChainHead, rowHash, storableText, storedDetail } from './audit-chain.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps, Tx } from './deps.ts';

export interface AuditEntry {
  action: string;
  resourceType: string;
  resourceId?: string | null;
  outcome: 'ALLOWED' | 'DENIED' | 'FAILED';
  detail?: Record<string, unknown>;
}

/** An action from a chat names the channel and the person there, whatever the use case wrote. */
export function auditDetail(ctx: RequestCtx, entry: AuditEntry): Record<string, unknown> | undefined {
  const { channel } = ctx.actor;
  if (!channel) return entry.detail;
  return { ...entry.detail, channel: channel.name, [`${channel.name}_user_id`]: channel.externalUserId };
}

/** What writing audit rows needs: the key of the hash chain. */
export type AuditDeps = Pick<CoreDeps, 'audit'>;

/**
 * Writes one audit row inside the caller's transaction, so it commits or rolls back with the
 * change. The row continues the hash chain: it locks the chain head until the transaction ends
 * (concurrent writers queue here), hashes its content with the previous row's hash, and inserts
 * the row and moves the head in one statement. Call it last in a transaction where possible: the
 * head stays locked until commit. `locked`: the head as a statement of this transaction already
 * locked it (`SELECT … FOR UPDATE`), saving the round trip; a head without a hash goes the long way.
 */
export async function writeAudit(
  deps: AuditDeps,
  tx: Tx,
  ctx: RequestCtx,
  entry: AuditEntry,
  locked?: { seq: bigint; hash: string | null },
): Promise<void> {
  const { actor } = ctx;
  const detail = auditDetail(ctx, entry);
  const prev =
    locked && locked.hash !== null
      ? { seq: locked.seq, hash: locked.hash }
      : await lockChainHead(deps.audit, tx);
  const row = {
    seq: prev.seq + 1n,
    at: new Date(),
    actorUserId: actor.via === 'anonymous' ? null : actor.userId,
    actorSession: actor.sessionId ?? null,
    actorDevice: actor.deviceId ?? null,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceId: storableText(entry.resourceId ?? null),
    outcome: entry.outcome,
    requestId: ctx.requestId ?? null,
    detail: storedDetail(detail),
  };
  const hash = rowHash(deps.audit, row, prev.hash);
  const statement = Prisma.sql`
    WITH added AS (
      INSERT INTO audit_events (seq, at, actor_user_id, actor_session, actor_device, action, resource_type,
                                resource_id, outcome, request_id, detail, hash)
      VALUES (${row.seq}, ${row.at.toISOString()}::timestamptz AT TIME ZONE 'UTC', ${row.actorUserId},
              ${row.actorSession}, ${row.actorDevice}, ${row.action}, ${row.resourceType}, ${row.resourceId},
              ${row.outcome}::"AuditOutcome", ${row.requestId}, ${JSON.stringify(row.detail)}::jsonb, ${hash})
      RETURNING seq)
    UPDATE audit_chain_head SET seq = ${row.seq}, hash = ${hash}, mac = ${headMac(deps.audit, row.seq, hash)}
    WHERE id = 1`;
  // The head stays locked until commit: where the transaction can, the row goes out with its COMMIT.
  const atCommit = (tx as Partial<SqlTx>).$executeRawAtCommit;
  if (!atCommit?.(statement)) await tx.$executeRaw(statement);
}

export function toAuditDto(row: AuditRow) {
  return {
    id: row.id.toString(),
    seq: row.seq.toString(),
    at: row.at.toISOString(),
    actor_user_id: row.actorUserId,
    actor_session: row.actorSession,
    actor_device: row.actorDevice,
    action: row.action,
    resource_type: row.resourceType,
    resource_id: row.resourceId,
    outcome: row.outcome.toLowerCase() as 'allowed' | 'denied' | 'failed',
    request_id: row.requestId,
    detail: (row.detail ?? {}) as Record<string, unknown>,
    hash: row.hash,
  };
}
