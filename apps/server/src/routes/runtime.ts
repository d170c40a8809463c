import {
  agentInfoSchema,
  cancelBodySchema,
  cancelResponseSchema,
  createSessionQuerySchema,
  errorBodySchema,
  sessionQuerySchema,
  sessionSchema,
  skillInfoSchema,
  submitTaskBodySchema,
  taskIdParamSchema,
  taskStateSchema,
} from '@ccl/contracts';
import {
  cancelTask,
  createRuntimeSession,
  getTaskState,
  listAgents,
  listSkills,
  submitTask,
} from '@ccl/core';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { isLocalTrusted, sessionKeyCtx } from '../auth.ts';
import { actorOf, needs, open } from '../permission-matrix.ts';
import { publicUrl } from '../public-url.ts';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const tags = ['runtime (CoderClaw)'];

/** CoderClaw's runtime contract, field for field (shared/coderclaw-contract.md). */
export async function runtimeRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.post(
    '/api/runtime/sessions',
    {
      config: {
        access: open(
          'creates a runtime session: a trusted loopback caller gets one at once; others need an approved device’s secret or an API key in the base URL (/k/<key>); names alone only ask for pairing (limited per address)',
        ),
      },
      schema: {
        operationId: 'createRuntimeSession',
        tags,
        summary: 'Open a session for a CoderClaw adapter (no body)',
        querystring: createSessionQuerySchema,
        response: { 200: sessionSchema, ...errors },
      },
    },
    async (request) =>
      createRuntimeSession(deps, {
        userId: request.query.user_id,
        deviceId: request.query.device_id,
        localTrusted: isLocalTrusted(deps, request),
        credential: await sessionKeyCtx(deps, request),
        devicesUrl: publicUrl(request, '/admin/devices'),
        requestIp: request.ip,
        requestId: request.id,
      }),
  );

  app.post(
    '/api/runtime/tasks/submit',
    {
      config: { access: { ...needs('task:submit', 'agent:execute'), session: 'body' } },
      schema: {
        operationId: 'submitRuntimeTask',
        tags,
        summary: 'Submit a task; answers its first state (normally pending)',
        body: submitTaskBodySchema,
        response: { 200: taskStateSchema, ...errors },
      },
    },
    async (request) => submitTask(deps, actorOf(request), request.body),
  );

  app.get(
    '/api/runtime/tasks/:task_id/state',
    {
      config: { access: { ...needs('task:view'), session: 'query', taskPoll: true } },
      schema: {
        operationId: 'getRuntimeTaskState',
        tags,
        summary: "The task's current state; 404 for an unknown task",
        params: taskIdParamSchema,
        querystring: z.object({ session_id: sessionQuerySchema.shape.session_id.optional() }),
        response: { 200: taskStateSchema, ...errors },
      },
      // CoderClaw polls this once a second per running task. The answer is built field by field by
      // toTaskState (typed against the schema), so zod re-checking it on every poll (an eighth of
      // the CPU time of a poll) proves nothing; the contract test checks each answer against it.
      serializerCompiler: () => (data) => JSON.stringify(data),
    },
    async (request) => getTaskState(deps, actorOf(request), request.params.task_id),
  );

  app.post(
    '/api/runtime/tasks/:task_id/cancel',
    {
      // Without a session_id (a restarted client) the submitting session stands in, as on the poll.
      config: { access: { ...needs('task:cancel'), session: 'body', taskPoll: true } },
      schema: {
        operationId: 'cancelRuntimeTask',
        tags,
        summary:
          'Cancel the task; success is false once it has ended. Without session_id the session that submitted it (while live) is the caller',
        params: taskIdParamSchema,
        body: cancelBodySchema.nullish(),
        response: { 200: cancelResponseSchema, ...errors },
      },
    },
    async (request) => cancelTask(deps, actorOf(request), request.params.task_id),
  );

  app.get(
    '/api/runtime/agents',
    {
      config: { access: { ...needs('agent:execute'), session: 'query' } },
      schema: {
        operationId: 'listRuntimeAgents',
        tags,
        summary: 'Agent runtimes and whether each can run here',
        querystring: sessionQuerySchema.partial(),
        response: { 200: z.array(agentInfoSchema), ...errors },
      },
    },
    async (request) => listAgents(deps, actorOf(request)),
  );

  app.get(
    '/api/runtime/skills',
    {
      config: { access: { ...needs('agent:execute'), session: 'query' } },
      schema: {
        operationId: 'listRuntimeSkills',
        tags,
        summary: 'Skills a task may name in context.skill',
        querystring: sessionQuerySchema.partial(),
        response: { 200: z.array(skillInfoSchema), ...errors },
      },
    },
    async (request) => listSkills(deps, actorOf(request)),
  );
}
