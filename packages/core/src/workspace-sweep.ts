import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultWorkspacesDir } from '@ccl/agents';
import type { CoreDeps } from './deps.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Removes workspaces whose execution ended more than WORKSPACE_RETENTION_S ago
 * (or that belong to no execution and are as old). A running execution's
 * workspace is never touched, however long it runs.
 */
export async function sweepWorkspaces(deps: CoreDeps): Promise<string[]> {
  const root = deps.config.WORKSPACES_DIR ?? defaultWorkspacesDir(deps.config.dataDir);
  const retentionMs = deps.config.WORKSPACE_RETENTION_S * 1000;
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const ids = names.filter((n) => UUID.test(n));
  const rows = await deps.prisma.execution.findMany({
    where: { id: { in: ids } },
    select: { id: true, finishedAt: true },
  });
  const finished = new Map(rows.map((r) => [r.id, r.finishedAt]));
  const cutoff = Date.now() - retentionMs;
  const removed: string[] = [];
  for (const id of ids) {
    const dir = join(root, id);
    const known = finished.has(id);
    const finishedAt = finished.get(id);
    const old = known
      ? finishedAt != null && finishedAt.getTime() < cutoff
      : (await stat(dir)).mtimeMs < cutoff;
    if (!old) continue;
    await rm(dir, { recursive: true, force: true });
    removed.push(id);
  }
  return removed;
}
