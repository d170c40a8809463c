import {
  apiKeySchema,
  changePasswordBodySchema,
  createApiKeyBodySchema,
  createdApiKeySchema,
  errorBodySchema,
  idParamsSchema,
  listApiKeysQuerySchema,
  meSchema,
  signInBodySchema,
  signInResultSchema,
  webSessionSchema,
} from '@ccl/contracts';
import {
  changeOwnPassword,
  createApiKey,
  listApiKeys,
  listWebSessions,
  revokeApiKey,
  revokeWebSession,
  SESSION_COOKIE,
  signIn,
  signOut,
  webSessionCtx,
  whoAmI,
} from '@ccl/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { sessionCookie } from '../auth.ts';
import { actorOf, open, signedIn } from '../permission-matrix.ts';

const errors = {
  400: errorBodySchema,
  401: errorBodySchema,
  403: errorBodySchema,
  404: errorBodySchema,
  429: errorBodySchema,
};

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, token: string, expires: Date) {
  reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    // Secure when the browser reached us over TLS; a plain-http server on a LAN must still work.
    secure: request.protocol === 'https',
    expires,
  });
}

/** Sign-in, sign-out, the caller's identity, browser sessions and personal API keys. */
export async function authRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.post(
    '/api/auth/login',
    {
      config: { access: open('sign-in itself; failures are audited and limited per account and address') },
      schema: {
        operationId: 'signIn',
        tags: ['auth'],
        summary: 'Sign in with a user id and password; sets the httpOnly session cookie',
        body: signInBodySchema,
        response: { 200: signInResultSchema, ...errors },
      },
    },
    async (request, reply) => {
      const result = await signIn(deps, {
        userId: request.body.user_id,
        password: request.body.password,
        ip: request.ip,
        userAgent: request.headers['user-agent'],
        requestId: request.id,
      });
      setSessionCookie(request, reply, result.token, result.expiresAt);
      const ctx = await webSessionCtx(deps, result.token, request.id);
      if (!ctx) throw new Error('a session just created could not be read back');
      return { ...(await whoAmI(deps, ctx, result.token)), expires_at: result.expiresAt.toISOString() };
    },
  );

  app.post(
    '/api/auth/logout',
    {
      config: { access: signedIn('ends the caller’s own browser session') },
      schema: {
        operationId: 'signOut',
        tags: ['auth'],
        summary: 'End this browser session',
        response: { 200: z.object({ signed_out: z.boolean() }), ...errors },
      },
    },
    async (request, reply) => {
      await signOut(deps, actorOf(request));
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { signed_out: true };
    },
  );

  app.get(
    '/api/auth/me',
    {
      config: { access: signedIn('the caller’s own identity and permissions') },
      schema: {
        operationId: 'whoAmI',
        tags: ['auth'],
        summary: 'Who the caller is, their permissions and the CSRF token for cookie sessions',
        response: { 200: meSchema, ...errors },
      },
    },
    async (request) => whoAmI(deps, actorOf(request), sessionCookie(request)),
  );

  app.post(
    '/api/auth/password',
    {
      config: { access: signedIn('changes the caller’s own password, given the current one') },
      schema: {
        operationId: 'changePassword',
        tags: ['auth'],
        summary: 'Change your own password; your other browser sessions end',
        body: changePasswordBodySchema,
        response: { 200: z.object({ changed: z.boolean() }), ...errors },
      },
    },
    async (request) => {
      await changeOwnPassword(deps, actorOf(request), {
        currentPassword: request.body.current_password,
        newPassword: request.body.new_password,
      });
      return { changed: true };
    },
  );

  app.get(
    '/api/auth/sessions',
    {
      config: { access: signedIn('own sessions; another user’s need user:manage') },
      schema: {
        operationId: 'listWebSessions',
        tags: ['auth'],
        summary: 'Your live browser sessions (another user’s with user:manage)',
        querystring: z.object({ user_id: z.string().min(1).max(128).optional() }),
        response: { 200: z.array(webSessionSchema), ...errors },
      },
    },
    async (request) => listWebSessions(deps, actorOf(request), request.query.user_id),
  );

  app.post(
    '/api/auth/sessions/:id/revoke',
    {
      config: { access: signedIn('own sessions; another user’s need user:manage') },
      schema: {
        operationId: 'revokeWebSession',
        tags: ['auth'],
        summary: 'End a browser session at once (yours, or anyone’s with user:manage)',
        params: idParamsSchema,
        response: { 200: z.object({ revoked: z.boolean() }), ...errors },
      },
    },
    async (request) => {
      await revokeWebSession(deps, actorOf(request), request.params.id);
      return { revoked: true };
    },
  );

  app.get(
    '/api/keys',
    {
      config: { access: signedIn('own keys; everyone’s (?all=true) need apikey:manage') },
      schema: {
        operationId: 'listApiKeys',
        tags: ['auth'],
        summary: 'Your API keys with their last use (everyone’s with ?all=true and apikey:manage)',
        querystring: listApiKeysQuerySchema,
        response: { 200: z.array(apiKeySchema), ...errors },
      },
    },
    async (request) => listApiKeys(deps, actorOf(request), { all: request.query.all === 'true' }),
  );

  app.post(
    '/api/keys',
    {
      config: {
        access: signedIn('own keys, within the caller’s permissions; another user’s need apikey:manage'),
      },
      schema: {
        operationId: 'createApiKey',
        tags: ['auth'],
        summary: 'Create a personal API key; the key is in this answer only',
        body: createApiKeyBodySchema,
        response: { 201: createdApiKeySchema, ...errors },
      },
    },
    async (request, reply) => {
      const key = await createApiKey(deps, actorOf(request), {
        name: request.body.name,
        permissions: request.body.permissions,
        expiresAt: request.body.expires_at ? new Date(request.body.expires_at) : undefined,
        userId: request.body.user_id,
      });
      return reply.status(201).send(key);
    },
  );

  app.post(
    '/api/keys/:id/revoke',
    {
      config: { access: signedIn('own keys; another user’s need apikey:manage') },
      schema: {
        operationId: 'revokeApiKey',
        tags: ['auth'],
        summary: 'Revoke an API key at once',
        params: idParamsSchema,
        response: { 200: apiKeySchema, ...errors },
      },
    },
    async (request) => revokeApiKey(deps, actorOf(request), request.params.id),
  );
}
