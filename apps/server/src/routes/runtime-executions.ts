import {
  adapterIdentityQuerySchema,
  cancelRuntimeExecutionBodySchema,
  clawIdHeaderSchema,
  clawParamSchema,
  errorBodySchema,
  nextTaskSchema,
  runtimeAgentListSchema,
  runtimeExecutionParamSchema,
  runtimeExecutionSchema,
  runtimeSkillListSchema,
  startRuntimeExecutionBodySchema,
} from '@ccl/contracts';
import {
  cancelRuntimeExecution,
  claimNextTask,
  getRuntimeExecution,
  listAgents,
  listSkills,
  startRuntimeExecution,
} from '@ccl/core';
import type { AppInstance } from '../app.ts';
import { actorOf, needs } from '../permission-matrix.ts';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const tags = ['runtime executions (CoderClaw 2026.3)'];

/**
 * CoderClaw 2026.3's ClawLinkTransportAdapter, field for field (docs/coderclaw.md). It authenticates
 * with `Authorization: Bearer <API key>` (or is the loopback `local` developer) and names cards,
 * executions and projects by their numbers.
 */
export async function runtimeExecutionRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.post(
    '/api/runtime/executions',
    {
      config: { access: needs('task:submit', 'agent:execute') },
      schema: {
        operationId: 'startRuntimeExecution',
        tags,
        summary: "Run card #taskId with payload as the prompt, with the card's agent and context",
        headers: clawIdHeaderSchema,
        body: startRuntimeExecutionBodySchema,
        response: { 201: runtimeExecutionSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { taskId, clawId, sessionId, payload } = request.body;
      const execution = await startRuntimeExecution(deps, actorOf(request), {
        taskId,
        clawId: clawId ?? request.headers['x-claw-id'],
        sessionId,
        payload,
      });
      return reply.status(201).send(execution);
    },
  );

  app.get(
    '/api/runtime/executions/:id',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'getRuntimeExecution',
        tags,
        summary: 'The execution by number; polled until completed, failed or cancelled',
        params: runtimeExecutionParamSchema,
        response: { 200: runtimeExecutionSchema, ...errors },
      },
      // Polled once a second per run: the answer is built field by field by toRuntimeExecution (typed
      // against the schema), so zod re-checking every poll proves nothing; the contract test checks it.
      serializerCompiler: () => (data) => JSON.stringify(data),
    },
    async (request) => getRuntimeExecution(deps, actorOf(request), request.params.id),
  );

  app.post(
    '/api/runtime/executions/:id/cancel',
    {
      config: { access: needs('task:cancel') },
      schema: {
        operationId: 'cancelRuntimeExecution',
        tags,
        summary: 'Cancel the run; answers once it has stopped (at most 10 s), so status says cancelled',
        params: runtimeExecutionParamSchema,
        body: cancelRuntimeExecutionBodySchema,
        response: { 200: runtimeExecutionSchema, ...errors },
      },
    },
    async (request) => cancelRuntimeExecution(deps, actorOf(request), request.params.id),
  );

  app.get(
    '/api/agents',
    {
      config: { access: needs('agent:execute') },
      schema: {
        operationId: 'listAgentsForAdapter',
        tags,
        summary: 'Agent runtimes and whether each can run here (as /api/runtime/agents)',
        querystring: adapterIdentityQuerySchema,
        response: { 200: runtimeAgentListSchema, ...errors },
      },
    },
    async (request) => listAgents(deps, actorOf(request)),
  );

  app.get(
    '/api/skills',
    {
      config: { access: needs('agent:execute') },
      schema: {
        operationId: 'listSkillsForAdapter',
        tags,
        summary: 'Skills a card may name in context.skill (as /api/runtime/skills)',
        querystring: adapterIdentityQuerySchema,
        response: { 200: runtimeSkillListSchema, ...errors },
      },
    },
    async (request) => listSkills(deps, actorOf(request)),
  );

  app.get(
    '/api/claws/:clawId/skills',
    {
      config: { access: needs('agent:execute') },
      schema: {
        operationId: 'listClawSkills',
        tags,
        summary: 'Skills for a CoderClaw instance: every instance has the same ones here',
        params: clawParamSchema,
        querystring: adapterIdentityQuerySchema,
        response: { 200: runtimeSkillListSchema, ...errors },
      },
    },
    async (request) => listSkills(deps, actorOf(request)),
  );

  app.post(
    '/api/tasks/next',
    {
      config: { access: needs('task:submit') },
      schema: {
        operationId: 'claimNextTask',
        tags,
        summary:
          'Claim the next card in To do (yours or nobody’s; highest priority, then oldest): assigned to you, moved to In progress',
        response: { 200: nextTaskSchema, ...errors },
      },
    },
    async (request) => claimNextTask(deps, actorOf(request)),
  );
}
