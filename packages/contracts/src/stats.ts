import { z } from 'zod';
import { executionStateSchema, isoDate } from './common.ts';

export const agentStatsQuerySchema = z.object({
  days: z.coerce.number().int().min(1).max(365).default(30).describe('look back this many days'),
});

/**
 * Pull requests opened within the look-back and what the merged ones cost: every run of a card
 * with a merged pull request counts (follow-ups included), divided by the merged pull requests.
 */
const pullRequestFigures = {
  prs_opened: z.number().int(),
  prs_merged: z.number().int(),
  /** merged / opened; null with none opened. */
  merge_rate: z.number().nullable(),
  /** null with none merged. */
  cost_usd_per_merged_pr: z.number().nullable(),
};

export const agentStatsSchema = z.object({
  agent_type: z.string(),
  runs: z.number().int(),
  completed: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  /** completed / finished runs (completed + failed + cancelled); null with no finished run. */
  success_rate: z.number().nullable(),
  /** Mean cost of finished runs that reported a cost. */
  avg_cost_usd: z.number().nullable(),
  last_run_at: isoDate.nullable(),
  /** Pull requests opened by this runtime's runs. */
  ...pullRequestFigures,
});
export type AgentStatsDto = z.infer<typeof agentStatsSchema>;

/** A project's pull requests within the look-back. */
export const projectPullRequestStatsSchema = z.object({ project_slug: z.string(), ...pullRequestFigures });
export type ProjectPullRequestStatsDto = z.infer<typeof projectPullRequestStatsSchema>;

export const agentStatsPageSchema = z.object({
  days: z.number().int(),
  agents: z.array(agentStatsSchema),
  /** Projects with pull requests opened within the look-back. */
  projects: z.array(projectPullRequestStatsSchema),
});
export type AgentStatsPageDto = z.infer<typeof agentStatsPageSchema>;

export const queueCountsSchema = z.object({
  name: z.string(),
  backend: z.string(),
  waiting: z.number().int(),
  active: z.number().int(),
  delayed: z.number().int(),
  failed: z.number().int(),
  completed: z.number().int(),
});

export const activeRunSchema = z.object({
  execution_id: z.string(),
  task_id: z.string(),
  agent_type: z.string(),
  state: executionStateSchema,
  started_at: isoDate.nullable(),
  /** When the run last wrote an event: a run's own heartbeat. */
  last_event_at: isoDate.nullable(),
});

export const workerHeartbeatSchema = z.object({
  /** Random per worker process start. */
  id: z.string(),
  host: z.string(),
  pid: z.number().int(),
  /** The process role running the worker: `all` (api + worker) or `worker`. */
  role: z.string(),
  queue: z.string(),
  concurrency: z.number().int(),
  /** Executions it was processing at its last heartbeat. */
  running: z.number().int(),
  started_at: isoDate,
  last_seen_at: isoDate,
  /** Not heard from for three heartbeat intervals: the process is probably gone. */
  stale: z.boolean(),
});
export type WorkerHeartbeatDto = z.infer<typeof workerHeartbeatSchema>;

export const queueStatsSchema = z.object({
  /** Job counts of the whole queue: empty for a caller outside some members-only project. */
  queues: z.array(queueCountsSchema),
  /** Executions of the projects the caller reaches, per state. */
  executions: z.record(executionStateSchema, z.number().int()),
  /** Active runs of the projects the caller reaches. */
  active_runs: z.array(activeRunSchema),
  /**
   * Worker processes that beat within the last hour, live ones first; empty, like `queues`, for a
   * caller outside some members-only project (their loads count its runs).
   */
  workers: z.array(workerHeartbeatSchema),
  /** Seconds between heartbeats; a worker is stale after three missed ones. */
  heartbeat_interval_s: z.number().int(),
});
export type QueueStatsDto = z.infer<typeof queueStatsSchema>;
