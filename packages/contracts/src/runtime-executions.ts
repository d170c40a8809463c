import { z } from 'zod';
import { taskPrioritySchema } from './board.ts';
import { executionStateSchema, isoDate } from './common.ts';
import { agentInfoSchema, skillInfoSchema } from './runtime.ts';

/**
 * CoderClaw 2026.3's runtime-executions API (its ClawLinkTransportAdapter; see docs/coderclaw.md).
 * Field names are the wire's (camelCase), ids are the short numbers of cards, executions and projects.
 */

/** The numbers are Postgres integers: beyond this nothing can have them. */
const MAX_NUMBER = 2_147_483_647;

const positiveInt = (field: string, what: string) => {
  const message = `${field} must be ${what} (a positive integer)`;
  return z.number({ message }).int(message).positive(message).max(MAX_NUMBER, message);
};

/** Path parameters are strings: digits only, so `12abc` is a 400 naming the field, not a lookup. */
const numberParam = (field: string, what: string) => {
  const message = `${field} must be ${what} (a positive integer)`;
  return z
    .string()
    .regex(/^[1-9][0-9]{0,9}$/, message)
    .transform(Number)
    .pipe(z.number().max(MAX_NUMBER, message));
};

export const AGENT_PROFILES_UNSUPPORTED =
  "agent profiles are not supported here; omit agentId to use the card's agent";

export const startRuntimeExecutionBodySchema = z.object({
  taskId: positiveInt('taskId', 'the number of a card'),
  /** The adapter sends a numeric agentId when its caller named one; there are no agent profiles here. */
  agentId: z
    .unknown()
    .optional()
    .refine((v) => v === undefined || v === null, AGENT_PROFILES_UNSUPPORTED)
    .transform(() => undefined)
    .describe(AGENT_PROFILES_UNSUPPORTED),
  clawId: positiveInt('clawId', 'the number of the CoderClaw instance').optional(),
  sessionId: z.string().trim().min(1).max(200).optional(),
  payload: z
    .string({ message: 'payload must be the prompt (a string)' })
    .min(1, 'payload must not be empty')
    .max(200_000),
});
export type StartRuntimeExecutionBody = z.infer<typeof startRuntimeExecutionBodySchema>;

/** `X-Claw-Id`, sent by the adapter on every request when it has a clawId. */
export const clawIdHeaderSchema = z.looseObject({
  'x-claw-id': numberParam('X-Claw-Id', 'the number of the CoderClaw instance').optional(),
});

export const runtimeExecutionParamSchema = z.object({ id: numberParam('id', 'the number of an execution') });
export const clawParamSchema = z.object({
  clawId: numberParam('clawId', 'the number of a CoderClaw instance'),
});

/** The adapter posts `{}`; a missing body is as good. */
export const cancelRuntimeExecutionBodySchema = z.looseObject({}).optional();

export const runtimeExecutionSchema = z.object({
  id: z.number().int().describe('the execution number'),
  taskId: z.number().int().describe('the card number'),
  agentId: z.null().describe('always null: there are no agent profiles here'),
  clawId: z.number().int().nullable(),
  tenantId: z.number().int().describe("the card's project number"),
  submittedBy: z.string().describe('the user who started the run'),
  sessionId: z.string().nullable().describe('the sessionId the run was started with'),
  status: executionStateSchema,
  payload: z.string().nullable().describe('the prompt'),
  result: z.string().nullable().describe('the final text (structured results as JSON text); null until then'),
  errorMessage: z.string().nullable(),
  startedAt: isoDate.nullable(),
  completedAt: isoDate.nullable(),
  createdAt: isoDate,
  updatedAt: isoDate,
});
export type RuntimeExecutionDto = z.infer<typeof runtimeExecutionSchema>;

/** `user_id` and `device_id` say who the adapter runs for; the credential decides who acts. */
export const adapterIdentityQuerySchema = z.object({
  user_id: z.string().trim().max(128).optional(),
  device_id: z.string().trim().max(256).optional(),
});

export const runtimeAgentListSchema = z.array(agentInfoSchema);
export const runtimeSkillListSchema = z.array(skillInfoSchema);

export const nextTaskSchema = z.object({
  task: z
    .object({
      id: z.number().int().describe('the card number'),
      status: z.string().describe("the card's column (in_progress once claimed)"),
      projectId: z.number().int().describe('the project number'),
      priority: taskPrioritySchema,
    })
    .nullable(),
});
export type NextTaskDto = z.infer<typeof nextTaskSchema>;
