import {
  approvalBodySchema,
  assigneeSchema,
  cancelExecutionResponseSchema,
  createProjectBodySchema,
  createTaskBodySchema,
  errorBodySchema,
  executionSchema,
  listTasksQuerySchema,
  projectSchema,
  projectSlugParamSchema,
  refParamSchema,
  startExecutionBodySchema,
  taskPageSchema,
  taskSchema,
  updateProjectBodySchema,
  updateTaskBodySchema,
} from '@ccl/contracts';
import {
  cancelExecution,
  createProject,
  createTask,
  decideApproval,
  getExecution,
  getTask,
  listAssignees,
  listProjects,
  listTaskExecutions,
  listTasks,
  startExecution,
  toExecutionDto,
  updateProject,
  updateTask,
} from '@ccl/core';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { actorOf, needs } from '../permission-matrix.ts';

const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
};

/** The board's REST API: projects, task cards and their executions. */
export async function boardRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.get(
    '/api/projects',
    {
      config: { access: needs('project:view') },
      schema: {
        operationId: 'listProjects',
        tags: ['projects'],
        response: { 200: z.array(projectSchema), ...errors },
      },
    },
    async (request) => listProjects(deps, actorOf(request)),
  );

  app.post(
    '/api/projects',
    {
      config: { access: needs('project:manage') },
      schema: {
        operationId: 'createProject',
        tags: ['projects'],
        body: createProjectBodySchema,
        response: { 201: projectSchema, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await createProject(deps, actorOf(request), request.body)),
  );

  app.patch(
    '/api/projects/:slug',
    {
      config: { access: needs('project:manage') },
      schema: {
        operationId: 'updateProject',
        tags: ['projects'],
        summary: "Rename a project or set its tasks' defaults (repo, ref, approval, max_cost_usd, model)",
        params: projectSlugParamSchema,
        body: updateProjectBodySchema,
        response: { 200: projectSchema, ...errors },
      },
    },
    async (request) => updateProject(deps, actorOf(request), request.params.slug, request.body),
  );

  app.get(
    '/api/projects/:slug/assignees',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'listProjectAssignees',
        tags: ['projects'],
        summary: "Who the project's cards can be assigned to: enabled users who reach the project",
        params: projectSlugParamSchema,
        response: { 200: z.array(assigneeSchema), ...errors },
      },
    },
    async (request) => listAssignees(deps, actorOf(request), request.params.slug),
  );

  app.get(
    '/api/tasks',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'listTasks',
        tags: ['tasks'],
        summary: 'Task cards, newest first, with their latest execution',
        querystring: listTasksQuerySchema,
        response: { 200: taskPageSchema, ...errors },
      },
    },
    async (request) => listTasks(deps, actorOf(request), request.query),
  );

  app.post(
    '/api/tasks',
    {
      config: {
        access: {
          ...needs('task:submit'),
          conditional: { 'agent:execute': 'with prompt and agent_type, to start an execution' },
        },
      },
      schema: {
        operationId: 'createTask',
        tags: ['tasks'],
        summary: 'Create a card; with prompt and agent_type it starts an execution',
        body: createTaskBodySchema,
        response: { 201: taskSchema, ...errors },
      },
    },
    async (request, reply) => reply.status(201).send(await createTask(deps, actorOf(request), request.body)),
  );

  app.get(
    '/api/tasks/:id',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'getTask',
        tags: ['tasks'],
        params: refParamSchema,
        response: { 200: taskSchema, ...errors },
      },
    },
    async (request) => getTask(deps, actorOf(request), request.params.id),
  );

  app.patch(
    '/api/tasks/:id',
    {
      config: { access: needs('task:submit') },
      schema: {
        operationId: 'updateTask',
        tags: ['tasks'],
        summary: 'Rename, describe or move a card between columns',
        params: refParamSchema,
        body: updateTaskBodySchema,
        response: { 200: taskSchema, ...errors },
      },
    },
    async (request) => updateTask(deps, actorOf(request), request.params.id, request.body),
  );

  app.get(
    '/api/tasks/:id/executions',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'listTaskExecutions',
        tags: ['executions'],
        params: refParamSchema,
        response: { 200: z.array(executionSchema), ...errors },
      },
    },
    async (request) => listTaskExecutions(deps, actorOf(request), request.params.id),
  );

  app.post(
    '/api/tasks/:id/executions',
    {
      config: { access: needs('task:submit', 'agent:execute') },
      schema: {
        operationId: 'startExecution',
        tags: ['executions'],
        summary: 'Run (or re-run) a task on an agent',
        params: refParamSchema,
        body: startExecutionBodySchema,
        response: { 201: executionSchema, ...errors },
      },
    },
    async (request, reply) => {
      const execution = await startExecution(deps, actorOf(request), request.params.id, request.body);
      return reply.status(201).send(toExecutionDto(execution));
    },
  );

  app.get(
    '/api/executions/:id',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'getExecution',
        tags: ['executions'],
        params: refParamSchema,
        response: { 200: executionSchema, ...errors },
      },
    },
    async (request) => getExecution(deps, actorOf(request), request.params.id),
  );

  app.post(
    '/api/executions/:id/cancel',
    {
      config: { access: needs('task:cancel') },
      schema: {
        operationId: 'cancelExecution',
        tags: ['executions'],
        summary: 'Stop an execution; it turns cancelled once the agent has stopped',
        params: refParamSchema,
        response: { 200: cancelExecutionResponseSchema, ...errors },
      },
    },
    async (request) => {
      const { success, execution } = await cancelExecution(deps, actorOf(request), request.params.id);
      return { success, execution: toExecutionDto(execution) };
    },
  );

  for (const [verb, approved] of [
    ['approve', true],
    ['deny', false],
  ] as const) {
    app.post(
      `/api/executions/:id/${verb}`,
      {
        config: { access: needs('task:approve') },
        schema: {
          operationId: `${verb}Execution`,
          tags: ['executions'],
          summary: `${verb === 'approve' ? 'Approve' : 'Deny'} the request a WAITING execution is paused on`,
          params: refParamSchema,
          body: approvalBodySchema.nullish(),
          response: { 200: executionSchema, ...errors },
        },
      },
      async (request) =>
        decideApproval(deps, actorOf(request), request.params.id, {
          approved,
          comment: request.body?.comment,
        }),
    );
  }
}
