import { DomainError, isDatabaseUnavailable, Unavailable } from '@ccl/core';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

const DOMAIN_STATUS: Record<DomainError['code'], number> = {
  invalid: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  invalid_state: 409,
  rate_limited: 429,
  unavailable: 503,
};

const FASTIFY_CODES: Record<string, { error: string; message?: (e: FastifyError) => string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { error: 'payload_too_large', message: () => 'the request body is too large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    error: 'unsupported_media_type',
    message: () => 'send the body as application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    error: 'bad_request',
    message: () => 'Content-Length does not match the body',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: { error: 'invalid', message: () => 'a JSON body is required' },
};

const ROUTER_ERRORS: Record<string, { status: number; error: string; message: string }> = {
  FST_ERR_BAD_URL: { status: 400, error: 'bad_request', message: 'the URL is not validly percent-encoded' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, error: 'uri_too_long', message: 'a path parameter is too long' },
};

/**
 * Errors the router raises before any route runs never reach setErrorHandler; Fastify's
 * own answer to them echoes the whole path back (a megabyte in, a megabyte out).
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const known = err.code ? ROUTER_ERRORS[err.code] : undefined;
  if (known) {
    reply.status(known.status).send({ error: known.error, message: known.message });
    return;
  }
  request.log.error({ err }, 'request failed before routing');
  reply.status(500).send({ error: 'internal', message: `internal error (request ${request.id})` });
}

const API_PATH = /^\/api(\/|$)/;
const API_FAMILIES =
  "this server speaks CoderClaw's session API (/api/runtime/sessions, /api/runtime/tasks/…) and its runtime-executions API (/api/runtime/executions…), and the board's API (/api/tasks, /api/executions, /api/projects…); see /docs";

/** Answers an unmatched request with a page (the board's own routes) and says so; false: not a page. */
export type PageFallback = (request: FastifyRequest, reply: FastifyReply) => boolean;

/**
 * One error map for HTTP: domain errors, validation, parser errors; never a stack trace to the
 * client. Unmatched requests answer a JSON 404 unless the page fallback (the board) takes them.
 */
export function registerErrorHandling(app: FastifyInstance): { setPageFallback: (f: PageFallback) => void } {
  let pageFallback: PageFallback | null = null;
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof Unavailable) {
      return reply
        .status(503)
        .header('retry-after', String(err.retryAfterS))
        .send({ error: err.code, message: err.message });
    }
    if (err instanceof DomainError) {
      return reply.status(DOMAIN_STATUS[err.code]).send({ error: err.code, message: err.message });
    }
    // The database is out of reach or its pool is exhausted: the request may succeed in a moment.
    if (isDatabaseUnavailable(err)) {
      request.log.warn({ err: (err as Error).message.slice(-200) }, 'the database does not answer');
      return reply.status(503).header('retry-after', '5').send({
        error: 'unavailable',
        message: 'the database is unreachable; try again in a few seconds',
      });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const where = err.validationContext ?? 'request';
      const details = err.validation
        .slice(0, 5)
        .map((v) => {
          const path = v.instancePath.replace(/^\//, '').replaceAll('/', '.');
          return `${where}${path ? `.${path}` : ''}: ${v.message}`;
        })
        .join('; ');
      return reply.status(400).send({ error: 'invalid', message: details });
    }
    if (err instanceof SyntaxError || err.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
      return reply.status(400).send({ error: 'invalid_json', message: 'the body is not valid JSON' });
    }
    const known = err.code ? FASTIFY_CODES[err.code] : undefined;
    const status = err.statusCode ?? 500;
    if (status === 429) return reply.status(429).send({ error: 'rate_limited', message: err.message });
    if (known)
      return reply.status(status).send({ error: known.error, message: known.message?.(err) ?? err.message });
    if (status >= 400 && status < 500) {
      return reply.status(status).send({ error: 'bad_request', message: err.message.slice(0, 300) });
    }
    request.log.error({ err }, 'request failed');
    return reply.status(500).send({
      error: 'internal',
      message: `internal error; the server log has the details (request ${request.id})`,
    });
  });

  // Only unmatched requests pay for the page fallback (an onRequest hook would run on every route).
  app.setNotFoundHandler((request, reply) => {
    if (pageFallback?.(request, reply)) return;
    const path = request.url.split('?')[0] ?? '';
    const message = `no route ${request.method} ${path}`;
    // A CoderClaw version may call a path this server does not serve: its error shows our body, so
    // say which of its APIs this server speaks and where they are described.
    reply
      .status(404)
      .send({ error: 'not_found', message: API_PATH.test(path) ? `${message}; ${API_FAMILIES}` : message });
  });
  return {
    setPageFallback: (f) => {
      pageFallback = f;
    },
  };
}
