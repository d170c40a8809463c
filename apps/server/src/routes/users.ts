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

/** Users and roles (needs user:manage). */
export async function userRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.get(
    '/api/users',
    {
      config: { access: needs('user:manage') },
      schema: {
        operationId: 'listUsers',
        tags: ['users'],
        response: { 200: z.array(userAccountSchema), ...errors },
      },
    },
    async (request) => listUserAccounts(deps, actorOf(request)),
  );

  app.post(
    '/api/users',
    {
      config: { access: needs('user:manage') },
      schema: {
        operationId: 'createUser',
        tags: ['users'],
        summary: 'Add a user, optionally with a password for signing in',
        body: createUserBodySchema,
        response: { 201: userAccountSchema, ...errors },
      },
    },
    async (request, reply) =>
      reply.status(201).send(await createUserAccount(deps, actorOf(request), request.body)),
  );

  app.patch(
    '/api/users/:id',
    {
      config: { access: needs('user:manage') },
      schema: {
        operationId: 'updateUser',
        tags: ['users'],
        summary:
          'Change a user’s role, name, password, GitHub login or monthly budget, or disable them (their sessions end at once)',
        params: userParamsSchema,
        body: updateUserBodySchema,
        response: { 200: userAccountSchema, ...errors },
      },
    },
    async (request) => updateUserAccount(deps, actorOf(request), request.params.id, request.body),
  );

  app.get(
    '/api/roles',
    {
      config: { access: needs('user:manage') },
      schema: {
        operationId: 'listRoles',
        tags: ['users'],
        response: { 200: z.array(roleSchema), ...errors },
      },
    },
    async (request) => listRoles(deps, actorOf(request)),
  );

  app.put(
    '/api/roles/:name',
    {
      config: { access: needs('user:manage') },
      schema: {
        operationId: 'putRole',
        tags: ['users'],
        summary: 'Create or edit a custom role (built-in roles are fixed)',
        params: roleParamsSchema,
        body: putRoleBodySchema,
        response: { 200: roleSchema, ...errors },
      },
    },
    async (request) => putRole(deps, actorOf(request), request.params.name, request.body),
  );

  app.delete(
    '/api/roles/:name',
    {
      config: { access: needs('user:manage') },
      schema: {
        operationId: 'deleteRole',
        tags: ['users'],
        summary: 'Delete a custom role nobody has',
        params: roleParamsSchema,
        response: { 200: z.object({ deleted: z.boolean() }), ...errors },
      },
    },
    async (request) => {
      await deleteRole(deps, actorOf(request), request.params.name);
      return { deleted: true };
    },
  );
}
