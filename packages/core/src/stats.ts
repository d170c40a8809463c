import type { AgentStatsPageDto, ExecutionStateName, QueueStatsDto } from '@ccl/contracts';
import { EXECUTION_STATES } from '@ccl/contracts';
import { Prisma } from '@ccl/db';
import { authorize } from './authorize.ts';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { projectIdsInReach, projectsInReach, reachesEveryProject } from './project-scope.ts';
import { NO_PULL_REQUESTS, pullRequestStats } from './pull-request-stats.ts';
import { listWorkers } from './worker-registry.ts';

interface AgentRow {
  agent_type: string;
  runs: number;
  completed: number;
  failed: number;
  cancelled: number;
  avg_cost: number | null;
  last_run_at: Date | null;
}

const NO_RUNS: Omit<AgentRow, 'agent_type'> = {
  runs: 0,
  completed: 0,
  failed: 0,
  cancelled: 0,
  avg_cost: null,
  last_run_at: null,
};

/**
 * Per runtime over the last `days`: runs, outcomes, success rate, average cost and the pull
 * requests its runs opened; and those pull request figures per project.
 */
export async function agentStats(
  deps: CoreDeps,
  ctx: RequestCtx,
  q: { days: number },
): Promise<AgentStatsPageDto> {
  await authorize(deps, ctx, 'task:view', { resourceType: 'agent' });
  const since = new Date(Date.now() - q.days * 86_400_000);
  // Runs of members-only projects the caller is not in are not counted (nor is their cost).
  const projectIds = await projectIdsInReach(deps, ctx);
  const inReach = projectIds
    ? Prisma.sql`AND task_id IN (SELECT id FROM tasks WHERE project_id = ANY(${projectIds}::uuid[]))`
    : Prisma.empty;
  // One aggregate query; usage.cost_usd is JSON, so Prisma's groupBy cannot average it.
  const runs = deps.prisma.$queryRaw<AgentRow[]>`
    SELECT agent_type,
           COUNT(*)::int AS runs,
           COUNT(*) FILTER (WHERE state = 'COMPLETED')::int AS completed,
           COUNT(*) FILTER (WHERE state = 'FAILED')::int AS failed,
           COUNT(*) FILTER (WHERE state = 'CANCELLED')::int AS cancelled,
           AVG((usage->>'cost_usd')::float8) FILTER (
             WHERE state IN ('COMPLETED', 'FAILED', 'CANCELLED') AND jsonb_typeof(usage->'cost_usd') = 'number'
           ) AS avg_cost,
           MAX(created_at) AS last_run_at
      FROM executions
     WHERE created_at >= ${since} ${inReach}
     GROUP BY agent_type
     ORDER BY agent_type`;
  const [rows, prs] = await Promise.all([runs, pullRequestStats(deps, since, projectIds)]);
  const byAgent = new Map(rows.map((r) => [r.agent_type, r]));
  // A runtime whose pull requests fall in the window but whose runs started before it is listed too.
  const agentTypes = [...new Set([...byAgent.keys(), ...prs.byAgent.keys()])].sort();
  return {
    days: q.days,
    agents: agentTypes.map((agentType) => {
      const r = byAgent.get(agentType) ?? NO_RUNS;
      const finished = r.completed + r.failed + r.cancelled;
      return {
        agent_type: agentType,
        runs: r.runs,
        completed: r.completed,
        failed: r.failed,
        cancelled: r.cancelled,
        success_rate: finished > 0 ? r.completed / finished : null,
        avg_cost_usd: r.avg_cost === null ? null : Number(r.avg_cost),
        last_run_at: r.last_run_at ? r.last_run_at.toISOString() : null,
        ...(prs.byAgent.get(agentType) ?? NO_PULL_REQUESTS),
      };
    }),
    projects: [...prs.byProject].map(([slug, figures]) => ({ project_slug: slug, ...figures })),
  };
}

const ACTIVE = ['PENDING', 'PLANNING', 'RUNNING', 'WAITING'] as const;

/**
 * The queue's job counts, executions per state, each active run with its last sign of life, and
 * the worker processes with their heartbeats. Executions and runs are those of the projects the
 * caller reaches; the job counts and workers span every project, so a caller who does not reach
 * every project gets none of them (they would count members-only work).
 */
export async function queueStats(deps: CoreDeps, ctx: RequestCtx): Promise<QueueStatsDto> {
  await authorize(deps, ctx, 'task:view', { resourceType: 'queue' });
  const projects = projectsInReach(ctx);
  const reach: Prisma.ExecutionWhereInput = projects ? { task: { project: projects } } : {};
  const whole = await reachesEveryProject(deps, ctx);
  const [counts, byState, active, workers] = await Promise.all([
    whole ? (deps.queue.counts?.() ?? null) : null,
    deps.prisma.execution.groupBy({ by: ['state'], where: reach, _count: { _all: true } }),
    deps.prisma.execution.findMany({
      where: { state: { in: [...ACTIVE] }, ...reach },
      orderBy: { createdAt: 'asc' },
      take: 100,
      select: {
        id: true,
        taskId: true,
        agentType: true,
        state: true,
        startedAt: true,
        events: { orderBy: { seq: 'desc' }, take: 1, select: { createdAt: true } },
      },
    }),
    whole ? listWorkers(deps) : [],
  ]);
  const executions = Object.fromEntries(EXECUTION_STATES.map((s) => [s, 0])) as Record<
    ExecutionStateName,
    number
  >;
  for (const row of byState) executions[row.state.toLowerCase() as ExecutionStateName] = row._count._all;
  return {
    queues: counts
      ? [{ name: deps.config.QUEUE_NAME, backend: deps.queue.backend ?? 'unknown', ...counts }]
      : [],
    executions,
    active_runs: active.map((e) => ({
      execution_id: e.id,
      task_id: e.taskId,
      agent_type: e.agentType,
      state: e.state.toLowerCase() as ExecutionStateName,
      started_at: e.startedAt?.toISOString() ?? null,
      last_event_at: e.events[0]?.createdAt.toISOString() ?? null,
    })),
    workers,
    heartbeat_interval_s: deps.config.WORKER_HEARTBEAT_S,
  };
}
