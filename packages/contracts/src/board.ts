import { z } from 'zod';
import { executionStateSchema, isoDate, jsonObject } from './common.ts';
import { networkAllowSchema, networkModeSchema } from './network.ts';
import {
  approvalModeSchema,
  maxCostUsdSchema,
  maxTokensSchema,
  maxTurnsSchema,
  onLimitSchema,
} from './run-options.ts';
import { submitContextSchema } from './runtime.ts';

export const BOARD_COLUMNS = ['backlog', 'todo', 'in_progress', 'review', 'done'] as const;
export const boardColumnSchema = z.enum(BOARD_COLUMNS);

/** A board column a project shows, with the name it gives it (default: the standard title). */
export const projectColumnSchema = z
  .object({
    key: boardColumnSchema,
    label: z.string().trim().min(1).max(40).optional(),
  })
  .strict();
export type ProjectColumn = z.infer<typeof projectColumnSchema>;

/**
 * The columns a project's board shows: a subset of the five, in the board's order (work flows
 * left to right, and dropping on In progress starts a run), each key at most once.
 */
export const projectColumnsSchema = z
  .array(projectColumnSchema)
  .min(1, 'show at least one column')
  .max(BOARD_COLUMNS.length)
  .superRefine((cols, ctx) => {
    let last = -1;
    for (const [i, col] of cols.entries()) {
      const at = BOARD_COLUMNS.indexOf(col.key);
      if (at === last) {
        ctx.addIssue({ code: 'custom', path: [i, 'key'], message: `column '${col.key}' is listed twice` });
      } else if (at < last) {
        ctx.addIssue({
          code: 'custom',
          path: [i, 'key'],
          message: `column '${col.key}' is out of order; keep ${BOARD_COLUMNS.join(', ')}`,
        });
      }
      last = Math.max(last, at);
    }
  });

/** A user id as the users table holds it. */
const userIdSchema = z.string().trim().min(1).max(128);

export const projectSlugSchema = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'slug must be letters, digits, dot, dash or underscore');

/** `owner/name` as GitHub spells a repository. */
export const githubRepoSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/, 'repo must be owner/name, e.g. acme/api')
  .refine((v) => !v.endsWith('/.') && !v.endsWith('/..'), 'repo must be owner/name, e.g. acme/api');

/** A project linked to a GitHub repository (docs/github.md). */
export const projectGithubSchema = z
  .object({
    repo: githubRepoSchema,
    /** Unset: the repository's default branch. */
    base: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .regex(/^[A-Za-z0-9._/-]+$/, 'base must be a branch name')
      .optional(),
    /** auto: a completed run with changes opens a PR; approve: it waits for a person first; off: none. */
    pull_requests: z.enum(['auto', 'approve', 'off']).optional(),
    draft: z.boolean().optional(),
    /** A failed check suite on a portal PR starts a follow-up run (at most fix_ci_attempts per PR). */
    fix_ci: z.boolean().optional(),
    fix_ci_attempts: z.number().int().min(1).max(10).optional(),
  })
  .strict();
export type ProjectGithub = z.infer<typeof projectGithubSchema>;

/**
 * What a project gives its tasks' runs. repo, ref and model are defaults a task's context
 * overrides; approval, approval_by_submitter, the limits and the network are ceilings a task
 * can only tighten (core's resolveRunOptions).
 */
export const projectSettingsSchema = z
  .object({
    repo: z
      .string()
      .trim()
      .min(1)
      .max(2000)
      .optional()
      .describe('git URL or path cloned into each workspace'),
    ref: z.string().trim().min(1).max(200).optional(),
    approval: approvalModeSchema.optional(),
    approval_by_submitter: z
      .boolean()
      .optional()
      .describe('false: whoever submitted a run cannot approve or deny its waiting steps'),
    max_turns: maxTurnsSchema.max(500).optional(),
    max_tokens: maxTokensSchema.max(100_000_000).optional(),
    max_cost_usd: maxCostUsdSchema.max(10_000).optional(),
    model: z.string().trim().min(1).max(200).optional(),
    /** A ceiling: a task may ask for less network, never for more. */
    network: networkModeSchema.optional(),
    network_allow: networkAllowSchema.optional(),
    /** Board display, not a task default: unset, the board shows all five columns. */
    columns: projectColumnsSchema.optional(),
    /** Linked: runs clone the repository and completed work becomes a pull request. */
    github: projectGithubSchema.optional(),
    max_concurrent: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .optional()
      .describe(
        'runs of this project that may hold worker slots at once (PROJECT_MAX_CONCURRENCY when unset)',
      ),
    budget_usd_month: z
      .number()
      .positive()
      .max(10_000_000)
      .optional()
      .describe(
        'US dollars the runs of this project may cost per calendar month (UTC); at 100 % new runs wait and running ones ask to go on',
      ),
    on_limit: onLimitSchema.optional(),
  })
  .strict();

/** A project's monthly budget and what its runs created this month (UTC) have cost. */
export const projectBudgetSchema = z.object({
  /** The calendar month (UTC) counted, `YYYY-MM`. */
  month: z.string(),
  budget_usd: z.number(),
  spent_usd: z.number(),
  /** spent / budget in whole percent, rounded down; 80 and more is a warning, 100 and more holds new runs. */
  percent: z.number().int(),
});
export type ProjectBudgetDto = z.infer<typeof projectBudgetSchema>;

export const projectSchema = z.object({
  id: z.string(),
  /** Short sequential number; CoderClaw 2026.3's `tenantId`. */
  number: z.number().int(),
  slug: z.string(),
  name: z.string(),
  description: z.string(),
  settings: projectSettingsSchema,
  created_at: isoDate,
  task_count: z.number().int(),
  /** Null when the project has no `settings.budget_usd_month`. */
  budget: projectBudgetSchema.nullable(),
});
export type ProjectDto = z.infer<typeof projectSchema>;

export const createProjectBodySchema = z.object({
  slug: projectSlugSchema,
  name: z.string().trim().min(1).max(200).optional(),
  description: z.string().max(10_000).optional(),
  settings: projectSettingsSchema.optional(),
});

export const updateProjectBodySchema = z
  .object({
    name: z.string().trim().min(1).max(200).optional(),
    description: z.string().max(10_000).optional(),
    settings: projectSettingsSchema.optional(),
  })
  .strict()
  .refine((b) => Object.keys(b).length > 0, 'give at least one of name, description, settings');

export const projectSlugParamSchema = z.object({ slug: projectSlugSchema });

/** Someone a card of the project can be assigned to. */
export const assigneeSchema = z.object({ id: z.string(), name: z.string().nullable() });
export type AssigneeDto = z.infer<typeof assigneeSchema>;

export const executionSummarySchema = z.object({
  id: z.string(),
  /** Short sequential number (`#7`), CoderClaw 2026.3's execution id. */
  number: z.number().int(),
  agent_type: z.string(),
  state: executionStateSchema,
  created_at: isoDate,
  finished_at: isoDate.nullable(),
  cost_usd: z.number().nullable(),
  /** The pull request opened for this run's changes (meta.pr_url), when there is one. */
  pr_url: z.string().nullable(),
  /** The CoderClaw instance (`X-Claw-Id` / `clawId`) that started the run, when one did. */
  claw_id: z.number().int().nullable(),
  /** Why the pending run has not started (its project's concurrency limit or budget). */
  held_reason: z.string().nullable(),
});

/** The newest pull request the portal opened for a card's work. */
export const taskPullRequestSchema = z.object({
  url: z.string(),
  number: z.number().int(),
  state: z.enum(['open', 'merged', 'closed']),
  branch: z.string(),
});
export type TaskPullRequestDto = z.infer<typeof taskPullRequestSchema>;

export const TASK_PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
export const taskPrioritySchema = z.enum(TASK_PRIORITIES);

export const taskSchema = z.object({
  id: z.string(),
  /** Short sequential number (`#42`), accepted wherever the id is; CoderClaw 2026.3's `taskId`. */
  number: z.number().int(),
  priority: taskPrioritySchema,
  /** The agent the card's runs use when a run names none; null: DEFAULT_AGENT. */
  agent_type: z.string().nullable(),
  /** Run settings (as a submit's `context`) the card's runs start from. */
  context: jsonObject.nullable(),
  project_id: z.string(),
  project_slug: z.string(),
  title: z.string(),
  description: z.string(),
  column: boardColumnSchema,
  creator_id: z.string(),
  /** Who works on the card; null: nobody yet. */
  assignee_id: z.string().nullable(),
  created_at: isoDate,
  updated_at: isoDate,
  latest_execution: executionSummarySchema.nullable(),
  /** The card's newest pull request (follow-up runs push to it); null: none yet. */
  pull_request: taskPullRequestSchema.nullable(),
});
export type TaskDto = z.infer<typeof taskSchema>;

export const createTaskBodySchema = z.object({
  project: projectSlugSchema.default('inbox'),
  title: z.string().trim().min(1).max(500),
  description: z.string().max(50_000).optional(),
  column: boardColumnSchema.optional(),
  /** An existing, enabled user who reaches the project. */
  assignee_id: userIdSchema.optional(),
  /** With both prompt and agent_type the task starts an execution at once. */
  prompt: z.string().min(1).max(200_000).optional(),
  /** Without a prompt: the card keeps it (and `context`) for the runs started later. */
  agent_type: z.string().trim().min(1).max(64).optional(),
  context: submitContextSchema.optional(),
  priority: taskPrioritySchema.optional(),
});

export const updateTaskBodySchema = z
  .object({
    title: z.string().trim().min(1).max(500).optional(),
    description: z.string().max(50_000).optional(),
    column: boardColumnSchema.optional(),
    /** A user to assign, or null to unassign. */
    assignee_id: userIdSchema.nullable().optional(),
    priority: taskPrioritySchema.optional(),
    /** The card's agent and run settings for later runs; null clears them. */
    agent_type: z.string().trim().min(1).max(64).nullable().optional(),
    context: submitContextSchema.nullable().optional(),
  })
  .strict()
  .refine(
    (b) => Object.keys(b).length > 0,
    'give at least one of title, description, column, assignee_id, priority, agent_type, context',
  );

export const listTasksQuerySchema = z.object({
  project: projectSlugSchema.optional(),
  column: boardColumnSchema.optional(),
  state: executionStateSchema.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.uuid().optional(),
});

export const taskPageSchema = z.object({ items: z.array(taskSchema), next_cursor: z.string().nullable() });

export const startExecutionBodySchema = z.object({
  prompt: z.string().min(1).max(200_000),
  /** Unset: the card's agent_type (else DEFAULT_AGENT). */
  agent_type: z.string().trim().min(1).max(64).optional(),
  /** Unset: the card's context. */
  context: submitContextSchema.optional(),
});

export const executionSchema = z.object({
  id: z.string(),
  task_id: z.string(),
  requested_agent: z.string(),
  agent_type: z.string(),
  skill: z.string().nullable(),
  state: executionStateSchema,
  prompt: z.string(),
  context: jsonObject,
  result: z.unknown(),
  error: z.string().nullable(),
  usage: jsonObject,
  /** What the runner reported at the end: model, turns, changed files, diff, plan. */
  meta: jsonObject,
  pending_approval: jsonObject.nullable(),
  /** Why a pending run has not started: its project's concurrency limit or budget; null otherwise. */
  held_reason: z.string().nullable(),
  attempts: z.number().int(),
  created_at: isoDate,
  started_at: isoDate.nullable(),
  finished_at: isoDate.nullable(),
});
export type ExecutionDto = z.infer<typeof executionSchema>;

export const executionEventSchema = z.object({
  seq: z.number().int(),
  type: z.string(),
  data: jsonObject,
  created_at: isoDate,
});
export type ExecutionEventDto = z.infer<typeof executionEventSchema>;

export const eventsQuerySchema = z.object({
  after: z.coerce.number().int().min(0).optional().describe('resume after this seq (same as Last-Event-ID)'),
});

export const cancelExecutionResponseSchema = z.object({ success: z.boolean(), execution: executionSchema });
export const approvalBodySchema = z.object({ comment: z.string().max(2000).optional() });
