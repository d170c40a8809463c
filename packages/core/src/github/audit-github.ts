import { writeAudit } from '../audit.ts';
import { makeCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';

/** Audits one GitHub write made for a run, as the run's user, on channel github. */
export async function auditGithubWrite(
  deps: CoreDeps,
  userId: string,
  action: string,
  repo: string,
  outcome: 'ALLOWED' | 'DENIED' | 'FAILED',
  detail: Record<string, unknown>,
) {
  const ctx = makeCtx({ userId, roleName: 'SYSTEM', permissions: [], via: 'system' });
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action,
      resourceType: 'github_repo',
      resourceId: repo,
      outcome,
      detail: { channel: 'github', repo, ...detail },
    }),
  );
}
