import { z } from 'zod';

/**
 * CoderClaw 2026.3's wire types, written as zod schemas from its
 * `product/src/transport/clawlink-adapter.ts` (ClawLinkExecutionResponse, ClawLinkAgentResponse,
 * ClawLinkSkillResponse, the tasks/next answer) and `types.ts` (TaskStatus). Independent of
 * @ccl/contracts on purpose: the server's answers are checked against what the client declares.
 * `.strict()`: a field the adapter does not know is a sign the answer drifted.
 */

/**
 * ClawLinkExecutionStatus lists pending, submitted, running, completed, failed and cancelled;
 * mapExecutionStatus turns submitted into pending and passes every other value through as a
 * TaskStatus, which also has planning and waiting. Those are the values a client can act on.
 */
export const adapterExecutionStatus = z.enum([
  'pending',
  'submitted',
  'planning',
  'running',
  'waiting',
  'completed',
  'failed',
  'cancelled',
]);

const isoString = z.iso.datetime({ offset: true });

export const adapterExecutionResponse = z
  .object({
    id: z.number(),
    taskId: z.number(),
    agentId: z.number().nullable(),
    clawId: z.number().nullable(),
    tenantId: z.number(),
    submittedBy: z.string(),
    sessionId: z.string().nullable(),
    status: adapterExecutionStatus,
    payload: z.string().nullable(),
    result: z.string().nullable(),
    errorMessage: z.string().nullable(),
    startedAt: isoString.nullable(),
    completedAt: isoString.nullable(),
    createdAt: isoString,
    updatedAt: isoString,
  })
  .strict();
export type AdapterExecutionResponse = z.infer<typeof adapterExecutionResponse>;

export const adapterAgentResponse = z
  .object({
    agent_type: z.string(),
    name: z.string(),
    description: z.string().nullable().optional(),
    available: z.boolean(),
    capabilities: z.array(z.string()).nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .strict();

export const adapterSkillResponse = z
  .object({
    skill_id: z.string(),
    name: z.string(),
    description: z.string().nullable().optional(),
    required_permissions: z.array(z.string()).nullable().optional(),
    metadata: z.record(z.string(), z.unknown()).nullable().optional(),
  })
  .strict();

/** fetchNextQueuedTask declares the fields as strings; it only passes them on, so numbers serve. */
export const adapterNextTaskResponse = z
  .object({
    task: z
      .object({
        id: z.union([z.string(), z.number()]),
        status: z.string().optional(),
        projectId: z.union([z.string(), z.number()]).optional(),
        priority: z.string().optional(),
      })
      .strict()
      .nullable(),
  })
  .strict();

/** CoderClaw's TaskStatus (types.ts). */
export type TaskStatus =
  | 'pending'
  | 'planning'
  | 'running'
  | 'waiting'
  | 'failed'
  | 'completed'
  | 'cancelled';

/** CoderClaw's TaskSubmitRequest (types.ts). */
export interface TaskSubmitRequest {
  agentId?: string;
  description: string;
  input: string;
  model?: string;
  thinking?: string;
  sessionId?: string;
  parentTaskId?: string;
  metadata?: Record<string, unknown>;
}

/** CoderClaw's TaskState (types.ts). */
export interface TaskState {
  id: string;
  status: TaskStatus;
  agentId?: string;
  description: string;
  sessionId?: string;
  parentTaskId?: string;
  createdAt: Date;
  startedAt?: Date;
  completedAt?: Date;
  output?: string;
  error?: string;
  progress?: number;
  metadata?: Record<string, unknown>;
}

export interface TaskUpdateEvent {
  taskId: string;
  status: TaskStatus;
  timestamp: Date;
  message?: string;
  progress?: number;
}

export interface AgentInfo {
  id: string;
  name: string;
  description: string;
  capabilities: string[];
}

export interface SkillInfo {
  id: string;
  name: string;
  description: string;
  version: string;
  enabled: boolean;
}

/** CoderClaw's ClawLinkConfig (types.ts). */
export interface ClawLinkConfig {
  baseUrl: string;
  authToken?: string;
  clawId?: number;
  userId?: string;
  deviceId?: string;
  pollIntervalMs?: number;
  timeoutMs?: number;
}
