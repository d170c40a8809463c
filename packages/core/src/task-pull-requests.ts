import type { TaskPullRequestDto } from '@ccl/contracts';
import type { PrismaClient } from '@ccl/db';
import type { Tx } from './deps.ts';

const STATES: ReadonlySet<string> = new Set(['open', 'merged', 'closed']);

/**
 * The newest pull request of each task, in one query for a whole page of cards (a task has a
 * handful at most: one per delivering run).
 */
export async function latestPullRequests(
  db: PrismaClient | Tx,
  taskIds: string[],
): Promise<Map<string, TaskPullRequestDto>> {
  const latest = new Map<string, TaskPullRequestDto>();
  if (!taskIds.length) return latest;
  const rows = await db.pullRequest.findMany({
    where: { taskId: { in: taskIds } },
    orderBy: [{ createdAt: 'desc' }, { number: 'desc' }],
    select: { taskId: true, url: true, number: true, state: true, branch: true },
  });
  for (const r of rows) {
    if (latest.has(r.taskId)) continue;
    const state = (STATES.has(r.state) ? r.state : 'open') as TaskPullRequestDto['state'];
    latest.set(r.taskId, { url: r.url, number: r.number, state, branch: r.branch });
  }
  return latest;
}
