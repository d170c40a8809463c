import { errorBodySchema, projectMemberSchema, projectSlugSchema } from '@ccl/contracts';
import { addProjectMember, listProjectMembers, removeProjectMember } from '@ccl/core';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { actorOf, needs } from '../permission-matrix.ts';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const memberParams = z.object({ slug: projectSlugSchema, user_id: z.string().min(1).max(128) });

/** Project membership (needs project:manage): a project with members is visible to them only. */
export async function memberRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.get(
    '/api/projects/:slug/members',
    {
      config: { access: needs('project:manage') },
      schema: {
        operationId: 'listProjectMembers',
        tags: ['projects'],
        summary: 'Members of a project; none means every user with the permissions reaches it',
        params: z.object({ slug: projectSlugSchema }),
        response: { 200: z.array(projectMemberSchema), ...errors },
      },
    },
    async (request) => listProjectMembers(deps, actorOf(request), request.params.slug),
  );

  app.put(
    '/api/projects/:slug/members/:user_id',
    {
      config: { access: needs('project:manage') },
      schema: {
        operationId: 'addProjectMember',
        tags: ['projects'],
        summary: 'Add a member; the first one makes the project members-only',
        params: memberParams,
        response: { 200: z.array(projectMemberSchema), ...errors },
      },
    },
    async (request) => addProjectMember(deps, actorOf(request), request.params.slug, request.params.user_id),
  );

  app.delete(
    '/api/projects/:slug/members/:user_id',
    {
      config: { access: needs('project:manage') },
      schema: {
        operationId: 'removeProjectMember',
        tags: ['projects'],
        summary: 'Remove a member; without members the project is team-wide again',
        params: memberParams,
        response: { 200: z.array(projectMemberSchema), ...errors },
      },
    },
    async (request) =>
      removeProjectMember(deps, actorOf(request), request.params.slug, request.params.user_id),
  );
}
