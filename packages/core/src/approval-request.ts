import { createHash } from 'node:crypto';
import { canonicalJson } from './audit-chain.ts';
import { BUDGET_RELEASE_ACTOR } from './budget-release.ts';
import type { CoreDeps } from './deps.ts';

/** What an agent asked to do, as stored on a WAITING execution (`pending_approval`). */
export interface ApprovalRequestView {
  id: string | null;
  kind: string;
  description: string;
  details: Record<string, unknown>;
  requestedAt: string | null;
}

export function approvalRequestOf(stored: unknown): ApprovalRequestView | null {
  if (!stored || typeof stored !== 'object') return null;
  const r = stored as Record<string, unknown>;
  return {
    id: typeof r.id === 'string' ? r.id : null,
    kind: typeof r.kind === 'string' ? r.kind : 'action',
    description: typeof r.description === 'string' ? r.description : '',
    details: r.details && typeof r.details === 'object' ? (r.details as Record<string, unknown>) : {},
    requestedAt: typeof r.requested_at === 'string' ? r.requested_at : null,
  };
}

/**
 * Names one pending request exactly: a decision made on what a person was shown (a chat message)
 * applies only while the execution still waits on that request. Keys are sorted, so the hash does
 * not depend on how the JSON was read back.
 */
export function approvalRequestHash(stored: unknown): string {
  return createHash('sha256')
    .update(canonicalJson(stored ?? null))
    .digest('base64url');
}

/**
 * The newest decision on a run's requests, as its state event recorded it (WAITING → RUNNING, with
 * who decided); the latest few state events are searched, so it is found after the run moved on.
 */
export async function lastApprovalDecision(deps: Pick<CoreDeps, 'prisma'>, executionId: string) {
  const events = await deps.prisma.executionEvent.findMany({
    where: { executionId, type: 'state' },
    orderBy: { seq: 'desc' },
    take: 5,
  });
  for (const e of events) {
    const d = (e.data as { decision?: { approved?: boolean; comment?: string | null; by?: string } })
      .decision;
    if (d) return { approved: d.approved === true, comment: d.comment ?? null, by: d.by ?? null };
  }
  return null;
}

/** The id of a question about going past a limit (decisions made before they named the limit: read back from it). */
const LIMIT_REQUEST = 'limit-';
export const limitRequestId = (limit: string, nth: number) => `${LIMIT_REQUEST}${limit}-${nth}-${Date.now()}`;

/**
 * The limits a person let a run go past, from the decisions its state events recorded; a release
 * by the system (a raised budget) holds the run to the new budget, so it does not count. Read when
 * a run crosses a limit, so an approval holds after the run parked, or its worker died.
 */
export async function approvedLimits(
  deps: Pick<CoreDeps, 'prisma'>,
  executionId: string,
): Promise<Set<string>> {
  const events = await deps.prisma.executionEvent.findMany({
    where: {
      executionId,
      type: 'state',
      data: { path: ['decision', 'request_id'], string_starts_with: LIMIT_REQUEST },
    },
    select: { data: true },
  });
  const limits = new Set<string>();
  for (const e of events) {
    const d = (
      e.data as { decision?: { approved?: boolean; by?: string; request_id?: string; limit?: string } }
    ).decision;
    if (d?.approved !== true || !d.request_id || d.by === BUDGET_RELEASE_ACTOR) continue;
    // The decision names its limit; one recorded before it did has it in the id: limit-<name>-<nth>-<ms>.
    limits.add(d.limit ?? d.request_id.slice(LIMIT_REQUEST.length).split('-').slice(0, -2).join('-'));
  }
  return limits;
}
