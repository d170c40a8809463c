import { writeAudit } from './audit.ts';
import { has, type RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { Forbidden } from './errors.ts';
import type { Permission } from './permissions.ts';

/**
 * The first line of every use case. On refusal it records a DENIED audit row in
 * its own transaction (the refused change never starts) and rejects with Forbidden,
 * naming the missing permission. A granted check answers at once, without a promise:
 * it runs on every request, CoderClaw's once-a-second polls included.
 */
export function authorize(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
  ctx: RequestCtx,
  permission: Permission,
  resource: { resourceType: string; resourceId?: string | null },
): Promise<never> | undefined {
  return has(ctx, permission) ? undefined : deny(deps, ctx, permission, resource);
}

async function deny(
  deps: Pick<CoreDeps, 'prisma' | 'audit'>,
  ctx: RequestCtx,
  permission: Permission,
  resource: { resourceType: string; resourceId?: string | null },
): Promise<never> {
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
