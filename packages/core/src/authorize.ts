import { writeAudit } from './audit.ts';
import { has, type RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { Forbidden } from './errors.ts';
import type { Permission } from './permissions.ts';

/**
 * The first line of every use case. On refusal it records a DENIED audit row in
 * its own transaction (the refused change never starts) and throws Forbidden
 * with a message naming the missing permission.
 */
export async function authorize(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
  ctx: RequestCtx,
  permission: Permission,
  resource: { resourceType: string; resourceId?: string | null },
): Promise<void> {
  if (has(ctx, permission)) return;
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action: permission,
      resourceType: resource.resourceType,
      resourceId: resource.resourceId ?? null,
      outcome: 'DENIED',
      detail: { reason: `lacks ${permission}` },
    }),
  );
  throw new Forbidden(`user '${ctx.actor.userId}' lacks ${permission}`);
}
