import { Prisma, type SqlTx } from '@ccl/db';
import {
  type AuditRow,
  contentMac,
  GENESIS_HASH,
  headMac,
  linkHash,
  lockChainHead,
  storableText,
  storedDetail,
} from './audit-chain.ts';
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

/** An audit row's content as stored, and its MAC (audit-chain.ts contentMac), before it has a place. */
function auditContent(deps: AuditDeps, ctx: RequestCtx, entry: AuditEntry) {
  const { actor } = ctx;
  const content = {
    at: new Date(),
    actorUserId: actor.via === 'anonymous' ? null : actor.userId,
    actorSession: actor.sessionId ?? null,
    actorDevice: actor.deviceId ?? null,
    action: entry.action,
    resourceType: entry.resourceType,
    resourceId: storableText(entry.resourceId ?? null),
    outcome: entry.outcome,
    requestId: ctx.requestId ?? null,
    detail: storedDetail(auditDetail(ctx, entry)),
  };
  return { ...content, mac: contentMac(deps.audit, content) };
}

/** The columns of an audit row but its place (seq, hash), as the VALUES or SELECT list of an INSERT. */
const contentValues = (row: ReturnType<typeof auditContent>) => Prisma.sql`
  ${row.at.toISOString()}::timestamptz AT TIME ZONE 'UTC', ${row.actorUserId}, ${row.actorSession},
  ${row.actorDevice}, ${row.action}, ${row.resourceType}, ${row.resourceId}, ${row.outcome}::"AuditOutcome",
  ${row.requestId}, ${JSON.stringify(row.detail)}::jsonb, ${row.mac}`;

const AUDIT_INSERT = Prisma.sql`INSERT INTO audit_events (at, actor_user_id, actor_session, actor_device,
  action, resource_type, resource_id, outcome, request_id, detail, mac, seq, hash)`;

/**
 * Writes one audit row inside the caller's transaction, so it commits or rolls back with the
 * change. The row continues the hash chain: it locks the chain head until the transaction ends
 * (concurrent writers queue here), links its content's MAC to the previous row's hash, and inserts
 * the row and moves (and signs) the head in one statement. Call it last in a transaction where
 * possible: the head stays locked until commit. The run's own moves and submits use chainedAudit
 * instead, which holds the head for one statement only.
 */
export async function writeAudit(deps: AuditDeps, tx: Tx, ctx: RequestCtx, entry: AuditEntry): Promise<void> {
  const row = auditContent(deps, ctx, entry);
  const prev = await lockChainHead(deps.audit, tx);
  const seq = prev.seq + 1n;
  const hash = linkHash(prev.hash, seq, row.mac);
  const statement = Prisma.sql`
    WITH added AS (${AUDIT_INSERT} VALUES (${contentValues(row)}, ${seq}, ${hash}) RETURNING seq)
    UPDATE audit_chain_head
    SET seq = ${seq}, hash = ${hash}, signed_seq = ${seq}, signed_hash = ${hash}, mac = ${headMac(deps.audit, seq, hash)}
    WHERE id = 1`;
  // The head stays locked until commit: where the transaction can, the row goes out with its COMMIT.
  const atCommit = (tx as Partial<SqlTx>).$executeRawAtCommit;
  if (!atCommit?.(statement)) await tx.$executeRaw(statement);
}

/**
 * An audit row as two CTEs (`head`, then `audit`) for a statement of the caller's: the database
 * moves the chain head and links the row (audit-chain.ts linkHash) as the statement runs, so the
 * head is locked from there to the statement's commit, with no round trip to the application in
 * between. The row is written when `when` (a condition on the statement's earlier CTEs) holds;
 * `variants` give its entry by a text the statement knows only as it runs (`pick`, an SQL
 * expression: the state a run moves from, say), the first one when there is only one. The head's
 * signature follows a moment later (audit-head-signer.ts). A head that cannot be continued this
 * way (rows from before the chain, or reset) leaves the row without a hash, which the table
 * refuses: the statement fails with CHAINED_AUDIT_REFUSED, and the caller goes the long way
 * (writeAudit).
 */
export function chainedAudit(
  deps: AuditDeps,
  ctx: RequestCtx,
  when: Prisma.Sql,
  variants: ReadonlyArray<{ key: string; entry: AuditEntry }>,
  pick?: Prisma.Sql,
): Prisma.Sql {
  const rows = variants.map(
    ({ key, entry }) => Prisma.sql`(${key}, ${contentValues(auditContent(deps, ctx, entry))})`,
  );
  const chosen = pick ?? Prisma.sql`${variants[0]?.key ?? ''}`;
  return Prisma.sql`
    chosen AS (
      SELECT v.* FROM (VALUES ${Prisma.join(rows)}) AS v(key, at, actor_user_id, actor_session, actor_device,
        action, resource_type, resource_id, outcome, request_id, detail, mac)
      WHERE v.key = ${chosen} AND ${when}),
    head AS (
      UPDATE audit_chain_head
      SET seq = seq + 1,
          hash = encode(sha256(convert_to(
            COALESCE(hash, ${GENESIS_HASH}) || ':' || (seq + 1)::text || ':' || (SELECT mac FROM chosen),
            'UTF8')), 'hex')
      WHERE id = 1 AND EXISTS (SELECT 1 FROM chosen) AND (hash IS NOT NULL OR seq = 0)
      RETURNING seq, hash),
    audit AS (
      ${AUDIT_INSERT}
      SELECT c.at, c.actor_user_id, c.actor_session, c.actor_device, c.action, c.resource_type, c.resource_id,
             c.outcome, c.request_id, c.detail, c.mac, head.seq, head.hash
      FROM chosen AS c LEFT JOIN head ON true
      RETURNING seq)`;
}

/** The table's refusal of a row without a hash: what chainedAudit's statement fails with at a head it cannot continue. */
export const CHAINED_AUDIT_REFUSED = /a new row must carry its chain hash/;

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

/**
 * Runs `fn`, whose statements write chainedAudit rows. When the head cannot be continued in the
 * database (rows from before the chain that nothing sealed yet, or a head reset behind the
 * triggers' back), goes the long way once: lockChainHead seals the old rows, or refuses a reset
 * head with the reason, and `fn` runs again.
 */
export async function withChainReady<T>(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
  fn: () => Promise<T>,
): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (!CHAINED_AUDIT_REFUSED.test((err as Error | null)?.message ?? '')) throw err;
    await deps.prisma.$transaction((tx) => lockChainHead(deps.audit, tx), { timeout: 600_000 });
    return fn();
  }
}
