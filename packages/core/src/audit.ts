import type { AuditQuery } from '@ccl/contracts';
import type { Prisma } from '@ccl/db';
import type { RequestCtx } from './context.ts';
import type { Tx } from './deps.ts';

export interface AuditEntry {
  action: string;
  resourceType: string;
  resourceId?: string | null;
  outcome: 'ALLOWED' | 'DENIED' | 'FAILED';
  detail?: Record<string, unknown>;
}

/** Writes one audit row inside the caller's transaction, so it commits or rolls back with the change. */
export async function writeAudit(tx: Tx, ctx: RequestCtx, entry: AuditEntry): Promise<void> {
  const { actor } = ctx;
  await tx.auditEvent.create({
    data: {
      actorUserId: actor.userId,
      actorSession: actor.sessionId ?? null,
      actorDevice: actor.deviceId ?? null,
      action: entry.action,
      resourceType: entry.resourceType,
      resourceId: entry.resourceId ?? null,
      outcome: entry.outcome,
      requestId: ctx.requestId ?? null,
      detail: (entry.detail ?? {}) as Prisma.InputJsonValue,
    },
  });
}

export function toAuditDto(row: {
  id: bigint;
  at: Date;
  actorUserId: string | null;
  actorSession: string | null;
  actorDevice: string | null;
  action: string;
  resourceType: string;
  resourceId: string | null;
  outcome: string;
  requestId: string | null;
  detail: unknown;
}) {
  return {
    id: row.id.toString(),
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
  };
}

export function auditWhere(q: AuditQuery): Prisma.AuditEventWhereInput {
  const where: Prisma.AuditEventWhereInput = {};
  if (q.actor) where.actorUserId = q.actor;
  if (q.action) where.action = q.action;
  if (q.resource) {
    const [type, ...rest] = q.resource.split(':');
    where.resourceType = type;
    if (rest.length) where.resourceId = rest.join(':');
  }
  if (q.since || q.until)
    where.at = {
      ...(q.since ? { gte: new Date(q.since) } : {}),
      ...(q.until ? { lte: new Date(q.until) } : {}),
    };
  if (q.cursor) where.id = { lt: BigInt(q.cursor) };
  return where;
}
