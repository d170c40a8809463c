import { type GitWorkspace, packWorkspace, unpackWorkspace } from '@ccl/agents';
import type { CoreDeps } from './deps.ts';

/**
 * A parked run's workspace, kept in PostgreSQL beside its checkpoint, so that any worker resumes it:
 * one on another machine (no shared WORKSPACES_DIR) unpacks it. Taken before the run shows as
 * WAITING, since a decision may come at once; replaced by a later park, dropped when the run goes on.
 * Returns false (and keeps nothing) when it cannot be taken, is larger than
 * WORKSPACE_SNAPSHOT_MAX_MB (a run resumed elsewhere then starts over there), or that is 0.
 */
export async function keepWorkspace(
  deps: Pick<CoreDeps, 'prisma' | 'log' | 'config'>,
  executionId: string,
  workspace: GitWorkspace,
): Promise<boolean> {
  const maxBytes = deps.config.WORKSPACE_SNAPSHOT_MAX_MB * 1024 * 1024;
  if (maxBytes === 0) return false;
  try {
    const archive = await packWorkspace(workspace.dir, maxBytes);
    if (!archive) {
      deps.log.warn({ executionId }, 'workspace too large to keep for a resume elsewhere');
      await dropWorkspace(deps, executionId);
      return false;
    }
    await deps.prisma.$executeRaw`
      INSERT INTO workspace_snapshots (execution_id, base_commit, archive)
      VALUES (${executionId}::uuid, ${workspace.baseCommit}, ${archive})
      ON CONFLICT (execution_id) DO UPDATE
        SET base_commit = EXCLUDED.base_commit, archive = EXCLUDED.archive, created_at = now()`;
    return true;
  } catch (err) {
    deps.log.warn(
      { executionId, err: (err as Error).message },
      'could not keep the workspace of a parked run',
    );
    return false;
  }
}

/** The kept workspace unpacked under `root`, or null when none was kept at `baseCommit`. */
export async function restoreWorkspace(
  deps: Pick<CoreDeps, 'prisma'>,
  root: string,
  executionId: string,
  baseCommit: string,
): Promise<GitWorkspace | null> {
  const kept = await deps.prisma.workspaceSnapshot.findUnique({ where: { executionId } });
  if (!kept || kept.baseCommit !== baseCommit) return null;
  return unpackWorkspace(root, executionId, baseCommit, Buffer.from(kept.archive));
}

export async function dropWorkspace(deps: Pick<CoreDeps, 'prisma'>, executionId: string): Promise<void> {
  await deps.prisma.workspaceSnapshot.deleteMany({ where: { executionId } });
}
