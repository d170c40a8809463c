import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '@ccl/config';
import type { CoreDeps } from '@ccl/core';
import cookie from '@fastify/cookie';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type RawServerDefault } from 'fastify';
import {
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import { requestCtx } from './auth.ts';
import { frameworkErrors, registerErrorHandling } from './errors.ts';
import type { EventHub } from './event-hub.ts';
import { registerHardening } from './hardening.ts';
import { AccessLog, lazyChildLogger } from './logger.ts';
import { type Metrics, metricsRoutes } from './metrics.ts';
import { stripPathKey } from './path-key.ts';
import { enforceRouteMatrix, open, type RouteEntry } from './permission-matrix.ts';
import { auditRoutes } from './routes/audit.ts';
import { authRoutes } from './routes/auth.ts';
import { boardRoutes } from './routes/board.ts';
import { deviceRoutes } from './routes/devices.ts';
import { eventRoutes } from './routes/events.ts';
import { githubRoutes } from './routes/github.ts';
import { healthRoutes } from './routes/health.ts';
import { memberRoutes } from './routes/members.ts';
import { runtimeRoutes } from './routes/runtime.ts';
import { runtimeExecutionRoutes } from './routes/runtime-executions.ts';
import { secretRoutes } from './routes/secrets.ts';
import { statsRoutes } from './routes/stats.ts';
import { telegramRoutes } from './routes/telegram.ts';
import { userRoutes } from './routes/users.ts';
import { registerWeb } from './static-web.ts';
import { registerStorableInput } from './storable-input.ts';
import type { TelegramService } from './telegram/service.ts';
import type { Tracing } from './tracing.ts';

declare module 'fastify' {
  interface FastifyInstance {
    deps: CoreDeps;
    hub: EventHub;
    queuePing: () => Promise<void>;
    /** The Telegram bot, when TELEGRAM_BOT_TOKEN is set. */
    telegram: TelegramService | null;
    /** Every registered route, as the permission matrix saw it. */
    routeTable: RouteEntry[];
  }
}

export type AppInstance = FastifyInstance<
  RawServerDefault,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  ZodTypeProvider
>;

export interface AppOptions {
  deps: CoreDeps;
  hub: EventHub;
  queuePing: () => Promise<void>;
  telegram?: TelegramService | null;
  /** Prometheus metrics; unset (tests that build a bare app), no /metrics route. */
  metrics?: Metrics;
  logger: FastifyBaseLogger;
  /** OpenTelemetry (OTEL_EXPORTER_OTLP_ENDPOINT set): a span per request. Unset: no hook at all. */
  tracing?: Tracing | null;
  /** The built board; default apps/web/dist. */
  webDir?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
const UNSAFE_HTML = /[<>&]/;
const UNSAFE_HTML_ALL = /[<>&]/g;
const isJson = (type: unknown) => typeof type === 'string' && type.startsWith('application/json');

/** TRUST_PROXY for Fastify, whose types take a hop count only as a function (as it builds one itself). */
function trustProxy(setting: Config['TRUST_PROXY']) {
  return typeof setting === 'number' ? (_address: string, hop: number) => hop < setting : setting;
}

/** Builds the HTTP app without listening, so tests drive it with inject() or a loopback port. */
export async function buildApp(opts: AppOptions): Promise<AppInstance> {
  const app = Fastify({
    loggerInstance: opts.logger,
    bodyLimit: opts.deps.config.BODY_LIMIT,
    // Behind a reverse proxy: request.ip, .protocol and .host as the proxy forwards them (TRUST_PROXY).
    trustProxy: trustProxy(opts.deps.config.TRUST_PROXY),
    // Honour a caller's request id when it is sane; it is echoed in audit rows and error messages.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    requestTimeout: 120_000,
    logController: new AccessLog(),
    childLoggerFactory: lazyChildLogger,
    frameworkErrors,
    // `/k/<key>/…` base URLs: the key becomes the bearer credential and leaves the URL before routing and logging.
    rewriteUrl: stripPathKey,
  }).withTypeProvider<ZodTypeProvider>();

  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.decorate('deps', opts.deps);
  app.decorate('hub', opts.hub);
  app.decorate('queuePing', opts.queuePing);
  app.decorate('telegram', opts.telegram ?? null);
  app.decorate('routeTable', enforceRouteMatrix(app));
  // Before every other hook and route, so the span covers the whole request.
  opts.tracing?.instrumentHttp(app);

  // CoderClaw sends Content-Type: application/json on body-less POSTs; an empty body is "no body", not an error.
  const jsonParser = app.getDefaultJsonParser('error', 'ignore');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' || (typeof body === 'string' && body.trim() === '')) {
      done(null, undefined);
      return;
    }
    jsonParser(request, body as string, done);
  });
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    // Strings are stored verbatim; on output <, > and & are JSON-escaped so no response can be sniffed as HTML.
    if (typeof payload === 'string' && UNSAFE_HTML.test(payload) && isJson(reply.getHeader('content-type'))) {
      done(
        null,
        payload.replace(UNSAFE_HTML_ALL, (c) => `\\u00${c.charCodeAt(0).toString(16)}`),
      );
      return;
    }
    done(null, payload);
  });

  const { setPageFallback } = registerErrorHandling(app);
  registerStorableInput(app);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'CoderClawLink API',
        description:
          "Self-hosted execution portal for AI coding agents. The runtime routes speak CoderClaw's contract.",
        version: '0.1.0',
      },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(cookie);
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    // A team server shows its API description to signed-in callers only (AUTH_MODE team).
    uiHooks: {
      onRequest: async (request) => {
        if (opts.deps.config.authMode === 'team') await requestCtx(opts.deps, request);
      },
    },
    staticCSP: true,
    // A team server on plain http must keep loading the docs' own assets.
    transformStaticCSP: (header) => header.replace(/\s*upgrade-insecure-requests;?/, ''),
  });
  await registerHardening(app, opts.deps.config);

  if (opts.metrics) metricsRoutes(app, opts.metrics);
  await app.register(healthRoutes);
  await app.register(runtimeRoutes);
  await app.register(runtimeExecutionRoutes);
  await app.register(boardRoutes);
  await app.register(eventRoutes);
  await app.register(auditRoutes);
  await app.register(statsRoutes);
  await app.register(authRoutes);
  await app.register(deviceRoutes);
  await app.register(secretRoutes);
  await app.register(userRoutes);
  await app.register(memberRoutes);
  await app.register(githubRoutes);
  await app.register(telegramRoutes);
  // The board at the root; without a build of apps/web the root leads to the API docs instead.
  if (!(await registerWeb(app, setPageFallback, opts.webDir))) {
    app.get(
      '/',
      { config: { access: open('leads to the API docs') }, schema: { operationId: 'root', hide: true } },
      async (_request, reply) => reply.redirect('/docs'),
    );
  }
  return app;
}
