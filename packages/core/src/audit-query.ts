import type { AuditQuery } from '@ccl/contracts';
import { auditWhere, toAuditDto } from './audit.ts';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';

/** Newest first, cursor = the last id of the previous page. */
export async function listAuditEvents(deps: CoreDeps, ctx: RequestCtx, q: AuditQuery) {
  await authorize(deps, ctx, 'audit:view', { resourceType: 'audit' });
  const rows = await deps.prisma.auditEvent.findMany({
    where: auditWhere(q),
    orderBy: { id: 'desc' },
    take: q.limit + 1,
  });
  const page = rows.slice(0, q.limit);
  return {
    items: page.map(toAuditDto),
    next_cursor: rows.length > q.limit ? (page.at(-1)?.id.toString() ?? null) : null,
  };
}
