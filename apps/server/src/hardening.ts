import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '@ccl/config';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import helmet, { type HelmetOptions } from 'helmet';
import { FailedPollLimit, limitFailedPolls } from './failed-poll-limit.ts';

/** Routes that answer JSON (or an event stream), never a page. */
const API_PATH = /^\/(?:api\/|(?:healthz|readyz)(?:$|\?))/;

/** Routes that create work: they get the tighter RATE_LIMIT_SUBMIT_PER_MINUTE. */
const SUBMIT_OPERATIONS = new Set([
  'submitRuntimeTask',
  'createTask',
  'startExecution',
  'startRuntimeExecution',
]);
/**
 * CoderClaw's polls, of both adapter generations (the session contract's task state, 2026.3's
 * execution): only their failed answers are limited (RATE_LIMIT_FAILED_POLLS_PER_MINUTE).
 */
const STATE_POLLS = ['getRuntimeTaskState', 'getRuntimeExecution'] as const;
/**
 * Never limited by the general limit: probes from orchestrators and load balancers, and CoderClaw's
 * state poll. The adapter polls each running task once a second from one address, so a per-address
 * limit on it would fail an orchestrator with more concurrent tasks than the limit allows per
 * second; the poll is answered from the read cache (a task's row at most once a second) and
 * changes nothing. Its failures (unknown ids) are what a flood is made of, and are limited apart.
 */
const UNLIMITED_OPERATIONS = new Set<string>(['healthz', 'readyz', ...STATE_POLLS]);

export class RateLimited extends Error {
  override name = 'RateLimited';
  readonly statusCode = 429;
}

/**
 * The headers helmet sets for these options. They depend on nothing in the request, so they are
 * worked out once at boot: running helmet on every request (as @fastify/helmet does) re-parses
 * the whole policy each time and cost more than the rest of a state read put together.
 */
export function securityHeaders(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: unknown) {
      headers[name.toLowerCase()] = String(value);
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (err?: unknown) => {
    if (err) throw err;
  });
  return headers;
}

/**
 * Security headers, CORS and rate limits, registered before the routes so every
 * route gets them. Runs after swagger-ui so its CSP hashes can be allowed.
 */
export async function registerHardening(app: FastifyInstance, config: Config): Promise<void> {
  const swaggerCsp = (app as FastifyInstance & { swaggerCSP?: { script: string[]; style: string[] } })
    .swaggerCSP ?? { script: [], style: [] };
  const documentHeaders = securityHeaders({
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'", ...swaggerCsp.script],
        styleSrc: ["'self'", "'unsafe-inline'", ...swaggerCsp.style],
        imgSrc: ["'self'", 'data:'],
        connectSrc: ["'self'"],
        // A team server on plain http (an internal address) must keep loading its own assets.
        upgradeInsecureRequests: null,
      },
    },
  });
  // JSON and event streams are never rendered as a page: they need no framing, referrer or
  // document-isolation policy, only "load nothing, never sniff, not from other sites".
  const apiHeaders = securityHeaders({
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
    },
    crossOriginOpenerPolicy: false,
    originAgentCluster: false,
    referrerPolicy: false,
    xDnsPrefetchControl: false,
    xDownloadOptions: false,
    xFrameOptions: false,
    xPermittedCrossDomainPolicies: false,
    xXssProtection: false,
  });
  // By path rather than by route: request.routeOptions builds a new object on every read.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(API_PATH.test(request.url) ? apiHeaders : documentHeaders);
    done();
  });

  if (config.CORS_ORIGINS.length > 0) {
    await app.register(cors, { origin: config.CORS_ORIGINS, credentials: true });
  }

  const failedPolls = config.RATE_LIMIT_FAILED_POLLS_PER_MINUTE;
  if (failedPolls > 0) {
    limitFailedPolls(app, STATE_POLLS, new FailedPollLimit(failedPolls), (retryAfter) => {
      const message = `too many failed state polls: at most ${failedPolls} unknown tasks per minute from one address; retry in ${retryAfter} s`;
      return new RateLimited(message);
    });
  }

  const perMinute = config.RATE_LIMIT_PER_MINUTE;
  const submitPerMinute = config.RATE_LIMIT_SUBMIT_PER_MINUTE;
  if (perMinute === 0 && submitPerMinute === 0) return;
  // Must be added before the plugin's own onRoute hook, which reads route.config.rateLimit.
  app.addHook('onRoute', (route) => {
    const op = (route.schema as { operationId?: string } | undefined)?.operationId ?? '';
    let limit: { max: number; timeWindow: number } | false | undefined;
    if (UNLIMITED_OPERATIONS.has(op)) limit = false;
    else if (SUBMIT_OPERATIONS.has(op) && submitPerMinute > 0)
      limit = { max: submitPerMinute, timeWindow: 60_000 };
    else if (perMinute === 0) limit = false;
    if (limit !== undefined) route.config = { ...(route.config ?? {}), rateLimit: limit };
  });
  await app.register(rateLimit, {
    global: true,
    max: perMinute > 0 ? perMinute : Number.MAX_SAFE_INTEGER,
    timeWindow: 60_000,
    errorResponseBuilder: (_request, context) =>
      new RateLimited(
        `too many requests: at most ${context.max} per minute from one address; retry in ${Math.max(1, Math.ceil(context.ttl / 1000))} s`,
      ),
  });
}
