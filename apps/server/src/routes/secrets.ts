import {
  errorBodySchema,
  projectSlugSchema,
  putSecretBodySchema,
  secretInfoSchema,
  secretParamsSchema,
} from '@ccl/contracts';
import { deleteProjectSecret, listProjectSecrets, putProjectSecret } from '@ccl/core';
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

/** Per-project secrets: write-only values, listed by name (needs secret:manage). */
export async function secretRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.get(
    '/api/projects/:slug/secrets',
    {
      config: { access: needs('secret:manage') },
      schema: {
        operationId: 'listProjectSecrets',
        tags: ['projects'],
        summary: 'Names of a project’s secrets, never their values',
        params: z.object({ slug: projectSlugSchema }),
        response: { 200: z.array(secretInfoSchema), ...errors },
      },
    },
    async (request) => listProjectSecrets(deps, actorOf(request), request.params.slug),
  );

  app.put(
    '/api/projects/:slug/secrets/:name',
    {
      config: { access: needs('secret:manage') },
      schema: {
        operationId: 'putProjectSecret',
        tags: ['projects'],
        summary:
          'Store (or replace) a secret, encrypted; runs of the project get it (e.g. ANTHROPIC_API_KEY)',
        params: secretParamsSchema,
        body: putSecretBodySchema,
        response: { 200: secretInfoSchema, ...errors },
      },
    },
    async (request) =>
      putProjectSecret(deps, actorOf(request), {
        slug: request.params.slug,
        name: request.params.name,
        value: request.body.value,
      }),
  );

  app.delete(
    '/api/projects/:slug/secrets/:name',
    {
      config: { access: needs('secret:manage') },
      schema: {
        operationId: 'deleteProjectSecret',
        tags: ['projects'],
        summary: 'Remove a secret',
        params: secretParamsSchema,
        response: { 200: z.object({ deleted: z.boolean() }), ...errors },
      },
    },
    async (request) => {
      await deleteProjectSecret(deps, actorOf(request), request.params.slug, request.params.name);
      return { deleted: true };
    },
  );
}
