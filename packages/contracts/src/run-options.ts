import { z } from 'zod';
import { networkModeSchema } from './network.ts';

/**
 * How a run's agent asks before acting, loosest first: a task may move its project's setting
 * further down this list, never back up (none < commands).
 */
export const APPROVAL_MODES = ['none', 'commands'] as const;
export const approvalModeSchema = z
  .enum(APPROVAL_MODES)
  .describe('commands: every shell command waits for approval');
export type ApprovalMode = z.infer<typeof approvalModeSchema>;

export const THINKING_LEVELS = ['off', 'low', 'medium', 'high'] as const;
export type ThinkingLevel = (typeof THINKING_LEVELS)[number];

/** Whole turns and tokens; a task asks for any positive number, its ceilings cut it down. */
export const maxTurnsSchema = z.number().int().min(1).describe('model turns (agent steps) per run');
export const maxTokensSchema = z.number().int().min(1).describe('input plus output tokens per run');
export const maxCostUsdSchema = z.number().positive().describe('US dollars per run, from the price table');
/** What a run does at its max_cost_usd: end FAILED (default), or wait in WAITING for a person to let it go on. */
export const onLimitSchema = z
  .enum(['fail', 'ask'])
  .describe('at max_cost_usd: fail ends the run; ask makes it wait for approval to go on');
export type OnLimit = z.infer<typeof onLimitSchema>;

/** `context.echo` of the echo agent: the knobs tests and demos use to exercise every path. */
export const echoOptionsSchema = z.object({
  steps: z.coerce.number().int().min(0).max(10_000).default(3),
  delay_ms: z.coerce.number().int().min(0).max(600_000).default(100),
  /** true or a message: end FAILED with that message. */
  fail: z.union([z.boolean(), z.string().max(2000)]).default(false),
  /** Throw a transient error on the first N attempts, to exercise retries. */
  fail_attempts: z.coerce.number().int().min(0).max(20).default(0),
  /** Ask for an approval halfway through (the execution goes WAITING). */
  ask_approval: z.boolean().default(false),
  /** Files (workspace-relative path → content) written before finishing, so tests get real diffs. */
  files: z
    .record(z.string().min(1).max(500), z.string().max(1_000_000))
    .refine((f) => Object.keys(f).length <= 100, 'at most 100 files')
    .optional(),
});
export type EchoOptions = z.infer<typeof echoOptionsSchema>;

/** `context.openhands`: which Agent Profile stored on the agent-server runs the task. */
export const openHandsOptionsSchema = z.looseObject({ agent_profile_id: z.string().max(200).optional() });

/** Where a run of a linked project delivers its work (the project's settings.github, resolved). */
export const runGithubSchema = z.object({
  repo: z.string(),
  /** Unset: the repository's default branch, read when the run starts. */
  base: z.string().optional(),
  pull_requests: z.enum(['auto', 'approve', 'off']),
  draft: z.boolean(),
});
export type RunGithub = z.infer<typeof runGithubSchema>;

/**
 * What a run may do, resolved once when it is submitted (core's resolveRunOptions): the task's
 * context under its project's settings and the server's limits, each of those a ceiling the task
 * can only tighten. Stored as the execution's `context` (beside the caller's own metadata keys);
 * the worker and every runner read this, never the raw context.
 */
export const runOptionsSchema = z.object({
  /** The project's slug. */
  project: z.string(),
  approval: approvalModeSchema,
  /** false: whoever submitted the run cannot approve or deny its waiting steps. */
  approval_by_submitter: z.boolean(),
  max_turns: maxTurnsSchema,
  max_tokens: maxTokensSchema,
  max_cost_usd: maxCostUsdSchema,
  /** The project's `on_limit`; absent: fail (stored only when the project says ask). */
  on_limit: onLimitSchema.optional(),
  network: networkModeSchema,
  /** The hosts of `network: allowlist`; absent under none and open. */
  network_allow: z.array(z.string()).optional(),
  model: z.string().optional(),
  thinking: z.enum(THINKING_LEVELS).optional(),
  skill: z.string().optional(),
  repo: z.string().optional(),
  ref: z.string().optional(),
  echo: echoOptionsSchema.optional(),
  openhands: openHandsOptionsSchema.optional(),
  github: runGithubSchema.optional(),
});
export type RunOptions = z.infer<typeof runOptionsSchema>;

/** The keys of RunOptions: in a stored context, these are the resolved values, not the caller's. */
export const RUN_OPTION_KEYS = Object.keys(runOptionsSchema.shape) as ReadonlyArray<keyof RunOptions>;
