import { type GitWorkspace, packWorkspace, unpackWorkspace } from '@ccl/agents';
import type { CoreDeps } from './deps.ts';

/**
 * A run's workspace, kept in PostgreSQL with the checkpoint it goes with, so that any worker goes on
 * from that checkpoint: one on another machine (no shared WORKSPACES_DIR) unpacks it. A parked run
 * keeps one before it shows as WAITING (a decision may come at once); a running one at most every
 * WORKSPACE_SNAPSHOT_INTERVAL_S, for a worker that takes it after its worker died. Each replaces the
 * last; dropped when the run ends (and when a parked run goes on). Returns false (and keeps nothing,
 * dropping what was kept: it no longer goes with the run) when it cannot be taken, is larger than
 * WORKSPACE_SNAPSHOT_MAX_MB (a run resumed elsewhere then starts over there), or that is 0.
 */
export async function keepWorkspace(
  deps: Pick<CoreDeps, 'prisma' | 'log' | 'config'>,
  executionId: string,
  workspace: GitWorkspace,
  checkpoint: unknown,
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
      INSERT INTO workspace_snapshots (execution_id, base_commit, archive, checkpoint)
      VALUES (${executionId}::uuid, ${workspace.baseCommit}, ${archive}, ${JSON.stringify(checkpoint)}::jsonb)
      ON CONFLICT (execution_id) DO UPDATE
        SET base_commit = EXCLUDED.base_commit, archive = EXCLUDED.archive,
            checkpoint = EXCLUDED.checkpoint, created_at = now()`;
    return true;
  } catch (err) {
    deps.log.warn({ executionId, err: (err as Error).message }, 'could not keep the workspace of a run');
    await dropWorkspace(deps, executionId).catch(() => undefined);
    return false;
  }
}

/**
 * The kept workspace unpacked under `root` and the checkpoint it goes with (null for one kept before
 * snapshots named theirs), or null when none was kept at `baseCommit`, or `accept` refuses its checkpoint.
 */
export async function restoreWorkspace(
  deps: Pick<CoreDeps, 'prisma'>,
  root: string,
  executionId: string,
  baseCommit: string,
  accept: (checkpoint: unknown) => boolean,
): Promise<{ workspace: GitWorkspace; checkpoint: unknown } | null> {
  // The checkpoint first: an archive (up to WORKSPACE_SNAPSHOT_MAX_MB) is read only when it is wanted.
  const where = { executionId, baseCommit };
  const looked = await deps.prisma.workspaceSnapshot.findFirst({ where, select: { checkpoint: true } });
  if (!looked || !accept(looked.checkpoint)) return null;
  // A snapshot replaced since the look is checked again.
  const kept = await deps.prisma.workspaceSnapshot.findFirst({ where });
  if (!kept || !accept(kept.checkpoint)) return null;
  const workspace = await unpackWorkspace(root, executionId, baseCommit, Buffer.from(kept.archive));
  return workspace && { workspace, checkpoint: kept.checkpoint };
}

export async function dropWorkspace(deps: Pick<CoreDeps, 'prisma'>, executionId: string): Promise<void> {
  await deps.prisma.workspaceSnapshot.deleteMany({ where: { executionId } });
}
