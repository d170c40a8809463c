// Loaded by tracing.ts only when OTEL_EXPORTER_OTLP_ENDPOINT is set: nothing of the SDK is imported
// otherwise.
import type { JobQueue } from '@ccl/core';
import type { PrismaClient } from '@ccl/db';
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  trace,
} from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVICE_NAME,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
} from '@opentelemetry/semantic-conventions';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { RunSpanInfo, Tracing } from './tracing.ts';

/** Messaging attributes (semantic conventions, incubating: spelled out rather than importing that entry). */
const messaging = (queueName: string, executionId: string, operation: 'send' | 'process'): Attributes => ({
  'messaging.system': 'bullmq',
  'messaging.destination.name': queueName,
  'messaging.operation.type': operation,
  'messaging.message.id': executionId,
  'ccl.execution.id': executionId,
});

function failed(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : String(err));
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** Runs `fn` as the span's work: ends the span when it settles, marked failed if it threw. */
async function within<T>(span: Span, parent: Context, fn: () => Promise<T>): Promise<T> {
  try {
    return await context.with(trace.setSpan(parent, span), fn);
  } catch (err) {
    failed(span, err);
    throw err;
  } finally {
    span.end();
  }
}

export function createTracing(opts: { endpoint: string; serviceName: string; queueName: string }): Tracing {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName }),
    spanProcessors: [
      // OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL: traces go to <base>/v1/traces.
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `${opts.endpoint.replace(/\/+$/, '')}/v1/traces` }),
      ),
    ],
  });
  // Process-wide (OpenTelemetry's API is): the AsyncLocalStorage context manager carries the active
  // span from a request into the use case and from the worker's run into the model calls
  // (packages/agents/src/loop/turn-stream.ts), and the W3C propagator writes `traceparent`.
  provider.register();
  const tracer = provider.getTracer('clawlink');

  return {
    instrumentHttp(app: FastifyInstance) {
      const spans = new WeakMap<FastifyRequest, Span>();
      const endSpan = (request: FastifyRequest, status?: number) => {
        const span = spans.get(request);
        if (!span) return;
        spans.delete(request);
        if (status !== undefined) {
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
          if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      };
      // Named hooks: `printRoutes({ includeHooks: true })` shows them (and the test that they are
      // absent when tracing is off reads it).
      app.addHook('onRequest', function startRequestSpan(request, _reply, done) {
        const route = request.routeOptions.url;
        const attributes: Attributes = {
          [ATTR_HTTP_REQUEST_METHOD]: request.method,
          // The path only: a query string may hold a runtime session id.
          [ATTR_URL_PATH]: request.url.split('?', 1)[0],
          [ATTR_URL_SCHEME]: request.protocol,
          [ATTR_CLIENT_ADDRESS]: request.ip,
          ...(route ? { [ATTR_HTTP_ROUTE]: route } : {}),
        };
        const parent = propagation.extract(ROOT_CONTEXT, request.headers);
        const name = route ? `${request.method} ${route}` : request.method;
        spans.set(request, tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent));
        done();
      });
      // The handler (and the use case it calls) runs with the request's span active. Not from
      // onRequest: the body is read in between, in the socket's async context, not this one.
      app.addHook('preHandler', function activateRequestSpan(request, _reply, done) {
        const span = spans.get(request);
        if (!span) return done();
        context.with(trace.setSpan(ROOT_CONTEXT, span), done);
      });
      app.addHook('onError', function recordRequestError(request, _reply, error, done) {
        const span = spans.get(request);
        if (span) failed(span, error);
        done();
      });
      app.addHook('onResponse', function endRequestSpan(request, reply, done) {
        endSpan(request, reply.statusCode);
        done();
      });
      app.addHook('onRequestAbort', function endAbortedRequestSpan(request, done) {
        endSpan(request);
        done();
      });
    },

    traceQueue<Q extends JobQueue>(queue: Q, prisma: PrismaClient): Q {
      const enqueue = async (executionId: string, ...rest: unknown[]) => {
        const parent = context.active();
        const span = tracer.startSpan(
          'enqueue execution',
          { kind: SpanKind.PRODUCER, attributes: messaging(opts.queueName, executionId, 'send') },
          parent,
        );
        return within(span, parent, async () => {
          const carrier: { traceparent?: string } = {};
          propagation.inject(context.active(), carrier);
          // Before the job exists, so the worker that takes it finds the trace to continue.
          await prisma.execution.updateMany({
            where: { id: executionId },
            data: { traceparent: carrier.traceparent ?? null },
          });
          return (queue.enqueue as (id: string, ...more: unknown[]) => Promise<void>)(executionId, ...rest);
        });
      };
      // A proxy, not a wrapper object: every other member, present or added later, stays the queue's own.
      return new Proxy(queue, {
        get(target, key) {
          if (key === 'enqueue') return enqueue;
          const value: unknown = Reflect.get(target, key, target);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },

    inRunSpan<T>(run: RunSpanInfo, fn: () => Promise<T>): Promise<T> {
      const parent = run.traceparent
        ? propagation.extract(ROOT_CONTEXT, { traceparent: run.traceparent })
        : ROOT_CONTEXT;
      const span = tracer.startSpan(
        'run execution',
        {
          kind: SpanKind.CONSUMER,
          attributes: {
            ...messaging(opts.queueName, run.executionId, 'process'),
            'ccl.user.id': run.userId,
            'ccl.agent_type': run.agentType,
            'ccl.attempt': run.attempt,
          },
        },
        parent,
      );
      return within(span, parent, fn);
    },

    async shutdown() {
      try {
        await provider.shutdown();
      } finally {
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}
