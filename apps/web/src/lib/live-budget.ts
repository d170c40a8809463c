import type { ProjectDto, TaskDto } from '@ccl/contracts';
import { useEffect, useMemo, useRef } from 'react';
import { loadProjects } from './board-api.ts';
import { coalesce } from './coalesce.ts';
import { isActive } from './states.ts';

/** Cost reports of a busy run come every few hundred ms; one budget read a second is plenty. */
export const BUDGET_REFRESH_MS = 1000;

/**
 * What of a board's cards moves its project's spend this month: each latest run's cost and whether
 * it has ended. A run that still runs and has cost nothing yet leaves it as it is, so a new card,
 * a move or a run's stream of text asks for nothing. Null while the cards shown are still those of
 * another project (the board keeps them until the new project's arrive).
 */
export function spendSignature(tasks: readonly TaskDto[], project: string): string | null {
  const parts: string[] = [];
  for (const t of tasks) {
    if (t.project_slug !== project) return null;
    const run = t.latest_execution;
    if (!run) continue;
    const ended = !isActive(run.state);
    if (run.cost_usd === null && !ended) continue;
    parts.push(`${run.id}:${run.cost_usd ?? 0}:${ended ? 'ended' : 'running'}`);
  }
  return parts.sort().join(' ');
}

/**
 * Keeps a project board's budget line live. The board already re-reads a card on each change of it
 * over /api/board/events; when the cards it holds show a run's cost changed or a run ended, the
 * projects (with their month figures) are read again: coalesced, one read in flight at most and
 * about one a second while spend keeps moving, and none at all for boards without a budget.
 */
export function useLiveBudget(
  project: string | null,
  tasks: TaskDto[] | undefined,
  hasBudget: boolean,
  setProjects: (update: (prev: ProjectDto[] | undefined) => ProjectDto[] | undefined) => void,
) {
  const signature = useMemo(
    () => (project && tasks ? spendSignature(tasks, project) : null),
    [project, tasks],
  );
  const refresher = useRef<ReturnType<typeof coalesce> | null>(null);
  useEffect(() => {
    if (!project || !hasBudget) return;
    const r = coalesce(async () => {
      const list = await loadProjects();
      setProjects(() => list);
    }, BUDGET_REFRESH_MS);
    refresher.current = r;
    return () => {
      r.stop();
      refresher.current = null;
    };
  }, [project, hasBudget, setProjects]);
  const seen = useRef<{ project: string; signature: string } | null>(null);
  useEffect(() => {
    if (!project || signature === null) return;
    const before = seen.current;
    seen.current = { project, signature };
    if (before?.project === project && before.signature !== signature) refresher.current?.request();
  }, [project, signature]);
}
