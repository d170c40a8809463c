import type { Config } from '@ccl/config';
import type { JobQueue } from '@ccl/core';
import type { PrismaClient } from '@ccl/db';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';

/** What the worker knows of a run when its job starts. */
export interface RunSpanInfo {
  executionId: string;
  userId: string;
  agentType: string;
  attempt: number;
  /** Stored by the enqueue that queued the run; null when it was queued without tracing. */
  traceparent: string | null;
}

/**
 * OpenTelemetry traces of one process: API request → enqueue → the worker's run → model calls.
 * Exists only when OTEL_EXPORTER_OTLP_ENDPOINT is set; otherwise nothing here is loaded and no hook
 * is added anywhere.
 */
export interface Tracing {
  /** Gives every HTTP request a server span named by its route template (hooks on the root instance). */
  instrumentHttp(app: FastifyInstance): void;
  /**
   * The queue with each enqueue traced; the enqueue's trace context goes on the execution row
   * (`traceparent`), since the job carries only the execution id.
   */
  traceQueue<Q extends JobQueue>(queue: Q, prisma: PrismaClient): Q;
  /** Runs one job of an execution in a span that continues the trace its enqueue stored. */
  inRunSpan<T>(run: RunSpanInfo, fn: () => Promise<T>): Promise<T>;
  /** Sends the spans not yet exported and unregisters the process-wide tracer. */
  shutdown(): Promise<void>;
}

/** Loads the OpenTelemetry SDK and starts exporting, when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
export async function startTracing(
  config: Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SERVICE_NAME' | 'QUEUE_NAME'>,
  log: Logger,
): Promise<Tracing | null> {
  const endpoint = config.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (!endpoint) return null;
  const { createTracing } = await import('./tracing-sdk.ts');
  const tracing = createTracing({
    endpoint,
    serviceName: config.OTEL_SERVICE_NAME,
    queueName: config.QUEUE_NAME,
  });
  // The origin only: a URL's path or user part is no business of the log.
  log.info(
    { collector: new URL(endpoint).origin, serviceName: config.OTEL_SERVICE_NAME },
    'tracing to an OTLP collector',
  );
  return tracing;
}
