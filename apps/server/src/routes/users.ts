import {
  createUserBodySchema,
  errorBodySchema,
  putRoleBodySchema,
  roleParamsSchema,
  roleSchema,
  updateUserBodySchema,
  userAccountSchema,
  userParamsSchema,
} from '@ccl/contracts';
import {
  createUserAccount,
  deleteRole,
  listRoles,
  listUserAccounts,
  putRole,
  updateUserAccount,
} from '@ccl/core';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { requestCtx } from '../auth.ts';

const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  409: errorBodySchema,
};

/** Users and roles (needs user:manage). */
export async function userRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;
  const ctxOf = (request: FastifyRequest) => requestCtx(deps, request);

  app.get(
    '/api/users',
    {
      schema: {
        operationId: 'listUsers',
        tags: ['users'],
        response: { 200: z.array(userAccountSchema), ...errors },
      },
    },
    async (request) => listUserAccounts(deps, await ctxOf(request)),
  );

  app.post(
    '/api/users',
    {
      schema: {
        operationId: 'createUser',
        tags: ['users'],
        summary: 'Add a user, optionally with a password for signing in',
        body: createUserBodySchema,
        response: { 201: userAccountSchema, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await createUserAccount(deps, await ctxOf(request), request.body)),
  );

  app.patch(
    '/api/users/:id',
    {
      schema: {
        operationId: 'updateUser',
        tags: ['users'],
        summary: 'Change a user’s role, name, password, or disable them (their sessions end at once)',
        params: userParamsSchema,
        body: updateUserBodySchema,
        response: { 200: userAccountSchema, ...errors },
      },
    },
    async (request) => updateUserAccount(deps, await ctxOf(request), request.params.id, request.body),
  );

  app.get(
    '/api/roles',
    {
      schema: {
        operationId: 'listRoles',
        tags: ['users'],
        response: { 200: z.array(roleSchema), ...errors },
      },
    },
    async (request) => listRoles(deps, await ctxOf(request)),
  );

  app.put(
    '/api/roles/:name',
    {
      schema: {
        operationId: 'putRole',
        tags: ['users'],
        summary: 'Create or edit a custom role (built-in roles are fixed)',
        params: roleParamsSchema,
        body: putRoleBodySchema,
        response: { 200: roleSchema, ...errors },
      },
    },
    async (request) => putRole(deps, await ctxOf(request), request.params.name, request.body),
  );

  app.delete(
    '/api/roles/:name',
    {
      schema: {
        operationId: 'deleteRole',
        tags: ['users'],
        summary: 'Delete a custom role nobody has',
        params: roleParamsSchema,
        response: { 200: z.object({ deleted: z.boolean() }), ...errors },
      },
    },
    async (request) => {
      await deleteRole(deps, await ctxOf(request), request.params.name);
      return { deleted: true };
    },
  );
}
