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
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { isLocalTrusted, pathKeyCtx, requestCtx, taskReaderCtx } from '../auth.ts';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const tags = ['runtime (CoderClaw)'];

const HOST = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** The board's devices page, on the host the caller reached (a malformed Host gets a relative path). */
function devicesUrl(request: FastifyRequest): string {
  const host = request.host;
  return HOST.test(host) ? `${request.protocol}://${host}/admin/devices` : '/admin/devices';
}

/** CoderClaw's runtime contract, field for field (shared/coderclaw-contract.md). */
export async function runtimeRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.post(
    '/api/runtime/sessions',
    {
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
        credential: await pathKeyCtx(deps, request),
        devicesUrl: devicesUrl(request),
        requestIp: request.ip,
        requestId: request.id,
      }),
  );

  app.post(
    '/api/runtime/tasks/submit',
    {
      schema: {
        operationId: 'submitRuntimeTask',
        tags,
        summary: 'Submit a task; answers its first state (normally pending)',
        body: submitTaskBodySchema,
        response: { 200: taskStateSchema, ...errors },
      },
    },
    async (request) =>
      submitTask(deps, await requestCtx(deps, request, request.body.session_id), request.body),
  );

  app.get(
    '/api/runtime/tasks/:task_id/state',
    {
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
    async (request) =>
      getTaskState(
        deps,
        await taskReaderCtx(deps, request, request.params.task_id, request.query.session_id),
        request.params.task_id,
      ),
  );

  app.post(
    '/api/runtime/tasks/:task_id/cancel',
    {
      schema: {
        operationId: 'cancelRuntimeTask',
        tags,
        summary: 'Cancel the task; success is false once it has ended',
        params: taskIdParamSchema,
        body: cancelBodySchema,
        response: { 200: cancelResponseSchema, ...errors },
      },
    },
    async (request) =>
      cancelTask(deps, await requestCtx(deps, request, request.body.session_id), request.params.task_id),
  );

  app.get(
    '/api/runtime/agents',
    {
      schema: {
        operationId: 'listRuntimeAgents',
        tags,
        summary: 'Agent runtimes and whether each can run here',
        querystring: sessionQuerySchema.partial(),
        response: { 200: z.array(agentInfoSchema), ...errors },
      },
    },
    async (request) => listAgents(deps, await requestCtx(deps, request, request.query.session_id)),
  );

  app.get(
    '/api/runtime/skills',
    {
      schema: {
        operationId: 'listRuntimeSkills',
        tags,
        summary: 'Skills a task may name in context.skill',
        querystring: sessionQuerySchema.partial(),
        response: { 200: z.array(skillInfoSchema), ...errors },
      },
    },
    async (request) => listSkills(deps, await requestCtx(deps, request, request.query.session_id)),
  );
}
