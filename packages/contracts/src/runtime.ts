import { z } from 'zod';
import { executionStateSchema, isoDate, jsonObject } from './common.ts';
import { networkAllowSchema, networkModeSchema } from './network.ts';
import {
  approvalModeSchema,
  echoOptionsSchema,
  maxCostUsdSchema,
  maxTokensSchema,
  maxTurnsSchema,
  openHandsOptionsSchema,
} from './run-options.ts';

/** Schemas of CoderClaw's runtime contract (see shared/coderclaw-contract.md); field names are the wire's. */

const userIdField = z.string().trim().min(1).max(128);

export const createSessionQuerySchema = z.object({
  user_id: userIdField.optional(),
  device_id: z.string().trim().min(1).max(256).optional(),
});

export const sessionSchema = z.object({
  session_id: z.string(),
  user_id: z.string().nullable(),
  created_at: isoDate,
  last_activity: isoDate,
  permissions: z.array(z.string()),
});
export type SessionDto = z.infer<typeof sessionSchema>;

/** 128 random bits written like a UUID (8-4-4-4-12 hex), without a UUID's version bits. */
export const sessionIdSchema = z
  .string()
  .regex(/^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/, {
    message: 'session_id must be a session id returned by POST /api/runtime/sessions',
  });

/**
 * `context` carries description/model/thinking/parentTaskId, the run's options plus the caller's
 * metadata. Approval, the limits and the network are bounded by the project's settings and the
 * server's limits (core's resolveRunOptions): a task can only tighten them.
 */
export const submitContextSchema = z
  .object({
    description: z.string().max(10_000).optional(),
    model: z.string().max(200).optional(),
    thinking: z.string().max(50).optional(),
    parentTaskId: z.string().max(200).optional(),
    project: z
      .string()
      .trim()
      .min(1)
      .max(64)
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'project must be letters, digits, dot, dash or underscore')
      .optional(),
    skill: z.string().max(100).optional(),
    /** Can only narrow the project's network setting. */
    network: networkModeSchema.optional(),
    network_allow: networkAllowSchema.optional(),
    /** Can only tighten the project's setting (none < commands). */
    approval: approvalModeSchema.optional(),
    /** false: the submitter cannot approve this run's steps (a project's false cannot be undone). */
    approval_by_submitter: z.boolean().optional(),
    /** Each at most the project's and the server's (MAX_TURNS, MAX_TOKENS, MAX_COST_USD). */
    max_turns: maxTurnsSchema.optional(),
    max_tokens: maxTokensSchema.optional(),
    max_cost_usd: maxCostUsdSchema.optional(),
    repo: z.string().trim().max(2000).optional().describe('git URL or path cloned into the workspace'),
    ref: z.string().trim().max(200).optional(),
    echo: echoOptionsSchema.optional(),
    openhands: openHandsOptionsSchema.optional(),
    /** In a project linked to GitHub: true/false overrides its pull_requests setting for this run. */
    create_pr: z.boolean().optional(),
  })
  .catchall(z.unknown());

export const submitTaskBodySchema = z.object({
  agent_type: z.string().trim().min(1).max(64),
  prompt: z.string().min(1, 'prompt must not be empty').max(200_000),
  context: submitContextSchema.nullish().transform((c) => c ?? {}),
  session_id: sessionIdSchema,
});
export type SubmitTaskBody = z.infer<typeof submitTaskBodySchema>;

export const taskStateSchema = z.object({
  task_id: z.string(),
  execution_uuid: z.string(),
  state: executionStateSchema,
  success: z.boolean(),
  result: z.unknown().describe('final text (string) or a structured value; null until finished'),
  error: z.string().nullable(),
  execution_time: z.number().nullable().describe('seconds from start to now or to the end'),
  metadata: jsonObject,
});
export type TaskStateDto = z.infer<typeof taskStateSchema>;

export const taskIdParamSchema = z.object({ task_id: z.uuid({ message: 'task_id must be a task id' }) });

/**
 * CoderClaw sends its session id; a client restarted since the submit has none (or a new one): without
 * one the task id stands for the session that submitted it, as on the state poll.
 */
export const cancelBodySchema = z.object({ session_id: sessionIdSchema.optional() });
export const cancelResponseSchema = z.object({ success: z.boolean(), task_id: z.string() });

export const sessionQuerySchema = z.object({ session_id: sessionIdSchema });

export const agentInfoSchema = z.object({
  agent_type: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  available: z.boolean(),
  capabilities: z.array(z.string()).nullable(),
  metadata: jsonObject.nullable(),
});
export type AgentInfoDto = z.infer<typeof agentInfoSchema>;

export const skillInfoSchema = z.object({
  skill_id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  required_permissions: z.array(z.string()).nullable(),
  metadata: jsonObject.nullable(),
});
export type SkillInfoDto = z.infer<typeof skillInfoSchema>;
