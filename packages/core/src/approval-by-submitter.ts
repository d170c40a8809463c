import { writeAudit } from './audit.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { Forbidden } from './errors.ts';
import { parseProjectSettings, storedRunOptions } from './run-options.ts';

/**
 * Four eyes: under `approval_by_submitter: false` (the project's setting, now or when the run
 * was submitted, or the run's own context) whoever submitted a run cannot approve or deny its
 * waiting steps; someone else with task:approve must. The refusal is audited like a missing
 * permission. An execution that does not exist is left to the caller's NotFound.
 */
export async function assertNotOwnRun(
  deps: CoreDeps,
  ctx: RequestCtx,
  executionId: string,
  approved: boolean,
): Promise<void> {
  const execution = await deps.prisma.execution.findUnique({
    where: { id: executionId },
    select: {
      userId: true,
      context: true,
      task: { select: { project: { select: { slug: true, settings: true } } } },
    },
  });
  if (!execution || execution.userId !== ctx.actor.userId) return;
  const { slug, settings } = execution.task.project;
  const projectSays = parseProjectSettings(slug, settings).approval_by_submitter === false;
  const runSays = !storedRunOptions(execution.context, deps.config).approval_by_submitter;
  if (!projectSays && !runSays) return;
  const verb = approved ? 'approve' : 'deny';
  const source = projectSays ? `project '${slug}'` : 'the run';
  const reason =
    `user '${ctx.actor.userId}' submitted this run and cannot ${verb} it: ${source} sets ` +
    'approval_by_submitter: false, so someone else with task:approve must decide';
  await deps.prisma.$transaction((tx) =>
    writeAudit(deps, tx, ctx, {
      action: `execution.${verb}`,
      resourceType: 'execution',
      resourceId: executionId,
      outcome: 'DENIED',
      detail: { reason },
    }),
  );
  throw new Forbidden(reason);
}
