import { Prisma } from '@ccl/db';
import type { CoreDeps } from './deps.ts';

export interface PullRequestFigures {
  prs_opened: number;
  prs_merged: number;
  merge_rate: number | null;
  cost_usd_per_merged_pr: number | null;
}

export const NO_PULL_REQUESTS: PullRequestFigures = {
  prs_opened: 0,
  prs_merged: 0,
  merge_rate: null,
  cost_usd_per_merged_pr: null,
};

interface Row {
  key: string;
  opened: number;
  merged: number;
  merged_cost: number;
}

/**
 * Pull requests opened since `since`, grouped by the runtime of the run that opened them or by
 * project, with what the merged ones cost: every run of a card that has a merged pull request
 * (follow-ups and CI fixes included, whenever they ran), divided by the merged pull requests. A
 * card is counted once per group, however many of its pull requests were merged.
 */
async function figuresBy(
  deps: Pick<CoreDeps, 'prisma'>,
  by: 'agent_type' | 'project_slug',
  since: Date,
  projectIds: string[] | undefined,
): Promise<Map<string, PullRequestFigures>> {
  const inReach = projectIds ? Prisma.sql`AND pr.project_id = ANY(${projectIds}::uuid[])` : Prisma.empty;
  const key = Prisma.raw(by);
  // Costs are summed as numeric: float sums of cents drift (0.1 + 0.2 + 0.3 ≠ 0.6).
  const rows = await deps.prisma.$queryRaw<Row[]>`
    WITH prs AS (
      SELECT pr.task_id, pr.state, p.slug AS project_slug, COALESCE(e.agent_type, 'unknown') AS agent_type
        FROM pull_requests pr
        JOIN projects p ON p.id = pr.project_id
        LEFT JOIN executions e ON e.id = pr.execution_id
       WHERE pr.created_at >= ${since} ${inReach}
    ),
    counts AS (
      SELECT ${key} AS key,
             COUNT(*)::int AS opened,
             COUNT(*) FILTER (WHERE state = 'merged')::int AS merged
        FROM prs
       GROUP BY 1
    ),
    merged_cards AS (
      SELECT DISTINCT ${key} AS key, task_id FROM prs WHERE state = 'merged'
    ),
    costs AS (
      SELECT m.key, SUM((e.usage->>'cost_usd')::numeric) AS cost
        FROM merged_cards m
        JOIN executions e ON e.task_id = m.task_id
       WHERE jsonb_typeof(e.usage->'cost_usd') = 'number'
       GROUP BY m.key
    )
    SELECT c.key, c.opened, c.merged, COALESCE(k.cost, 0)::float8 AS merged_cost
      FROM counts c
      LEFT JOIN costs k ON k.key = c.key
     ORDER BY c.key`;
  return new Map(
    rows.map((r) => [
      r.key,
      {
        prs_opened: r.opened,
        prs_merged: r.merged,
        merge_rate: r.opened > 0 ? r.merged / r.opened : null,
        cost_usd_per_merged_pr: r.merged > 0 ? Number(r.merged_cost) / r.merged : null,
      },
    ]),
  );
}

/** The figures per runtime and per project, in two queries run side by side. */
export async function pullRequestStats(
  deps: Pick<CoreDeps, 'prisma'>,
  since: Date,
  projectIds: string[] | undefined,
) {
  const [byAgent, byProject] = await Promise.all([
    figuresBy(deps, 'agent_type', since, projectIds),
    figuresBy(deps, 'project_slug', since, projectIds),
  ]);
  return { byAgent, byProject };
}
