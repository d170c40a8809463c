import { z } from 'zod';
import { executionStateSchema, isoDate, jsonObject } from './common.ts';

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

/** `context` carries description/model/thinking/parentTaskId plus the caller's metadata. */
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

export const cancelBodySchema = z.object({ session_id: sessionIdSchema });
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
