import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { types } from 'node:util';
import {
  type FakeOpenAI,
  type FakeOtlpCollector,
  type ReceivedSpan,
  startFakeOpenAI,
  startFakeOtlpCollector,
} from '@ccl/testing';
import { trace } from '@opentelemetry/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';
import { EventHub } from './event-hub.ts';
import { createLogger } from './log.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';
import { startTracing } from './tracing.ts';

const SERVER = 2;
const CLIENT = 3;
const PRODUCER = 4;
const CONSUMER = 5;
const TRACING_HOOKS =
  /startRequestSpan|activateRequestSpan|recordRequestError|endRequestSpan|endAbortedRequestSpan/g;

/** The hooks of POST /api/tasks of an app built over `server`'s deps, with or without tracing. */
async function submitRouteHooks(server: TestServer, tracing: Awaited<ReturnType<typeof startTracing>>) {
  const app = await buildApp({
    deps: server.deps,
    hub: new EventHub(),
    queuePing: async () => {},
    logger: createLogger({ LOG_LEVEL: 'silent' }),
    tracing,
  });
  await app.ready();
  const tree = app.printRoutes({ includeHooks: true, commonPrefix: false, method: 'POST' });
  await app.close();
  return tree;
}

describe('without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  let server: TestServer;
  let collector: FakeOtlpCollector;
  beforeAll(async () => {
    collector = await startFakeOtlpCollector();
    server = await startTestServer({ backend: 'postgres' });
  });
  afterAll(async () => {
    await server?.stop();
    await collector?.close();
  });

  it('adds no hook to the request path, leaves the queue as it is and records nothing', async () => {
    const off = await submitRouteHooks(server, null);
    expect(off).toContain('/api/tasks');
    expect(off.match(TRACING_HOOKS)).toBeNull();
    expect(types.isProxy(server.deps.queue)).toBe(false);
    expect(trace.getTracer('probe').startSpan('probe').isRecording()).toBe(false);

    // The same app with tracing on has the five, which is what the check above would find.
    const tracing = await startTracing(
      { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_SERVICE_NAME: 'probe', QUEUE_NAME: 'q' },
      createLogger({ LOG_LEVEL: 'silent' }),
    );
    try {
      const on = await submitRouteHooks(server, tracing);
      expect(new Set(on.match(TRACING_HOOKS))).toEqual(
        new Set([
          'startRequestSpan',
          'activateRequestSpan',
          'recordRequestError',
          'endRequestSpan',
          'endAbortedRequestSpan',
        ]),
      );
    } finally {
      await tracing?.shutdown();
    }
  });
});

describe('with OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  let collector: FakeOtlpCollector;
  let openai: FakeOpenAI;
  let server: TestServer;
  let workspaces: string;
  beforeAll(async () => {
    collector = await startFakeOtlpCollector();
    openai = await startFakeOpenAI({ apiKey: 'test-key' });
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    server = await startTestServer({
      backend: 'postgres',
      env: {
        OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
        OTEL_SERVICE_NAME: 'clawlink-test',
        OPENAI_API_KEY: 'test-key',
        OPENAI_BASE_URL: openai.url,
        WORKSPACES_DIR: workspaces,
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await openai?.close();
    await collector?.close();
    await rm(workspaces, { recursive: true, force: true });
  });

  const submit = async (body: Record<string, unknown>, headers: Record<string, string> = {}) => {
    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ project: 'traces', title: 'traced', prompt: 'x', ...body }),
    });
    expect(res.status).toBe(201);
    return (await readJson(res)).latest_execution.id as string;
  };
  const completed = (id: string) =>
    waitFor(
      async () => (await server.prisma.execution.findUnique({ where: { id } }))?.state === 'COMPLETED',
      20_000,
    );

  it('follows a task from its request through the queue to the worker and the model calls, in one trace', async () => {
    const echoId = await submit({ agent_type: 'echo', context: { echo: { steps: 1, delay_ms: 5 } } });
    openai.script([
      { text: '1. Finish at once', usage: { input: 11, output: 3 } },
      {
        toolCalls: [{ name: 'finish', input: { summary: 'done' } }],
        usage: { input: 20, output: 4 },
      },
    ]);
    // A caller already in a trace: the request's span continues it.
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const callerSpan = '00f067aa0ba902b7';
    const openaiId = await submit(
      { agent_type: 'openai' },
      { traceparent: `00-${callerTrace}-${callerSpan}-01` },
    );
    await completed(echoId);
    await completed(openaiId);
    const echoRow = await server.prisma.execution.findUniqueOrThrow({ where: { id: echoId } });
    expect(echoRow.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);

    // The spans are batched; stopping the server sends the rest.
    await server.stopServer();
    const spans = collector.spans;
    expect(collector.refused).toBe(0);
    expect(new Set(spans.map((s) => s.service))).toEqual(new Set(['clawlink-test']));
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const parentOf = (s: ReceivedSpan) => byId.get(s.parentSpanId);
    const runOf = (executionId: string) => {
      const runs = spans.filter(
        (s) => s.name === 'run execution' && s.attributes['ccl.execution.id'] === executionId,
      );
      expect(runs).toHaveLength(1);
      return runs[0] as ReceivedSpan;
    };

    // The echo run: POST /api/tasks → enqueue → the worker's run, one trace.
    const echoRun = runOf(echoId);
    expect(echoRun).toMatchObject({ kind: CONSUMER, status: 0 });
    expect(echoRun.attributes).toMatchObject({
      'ccl.user.id': echoRow.userId,
      'ccl.agent_type': 'echo',
      'ccl.attempt': 1,
      'messaging.operation.type': 'process',
    });
    const enqueue = parentOf(echoRun);
    expect(enqueue).toMatchObject({ name: 'enqueue execution', kind: PRODUCER, traceId: echoRun.traceId });
    expect(enqueue?.attributes['messaging.message.id']).toBe(echoId);
    expect(echoRow.traceparent).toBe(`00-${echoRun.traceId}-${enqueue?.spanId}-01`);
    const request = enqueue && parentOf(enqueue);
    expect(request).toMatchObject({
      name: 'POST /api/tasks',
      kind: SERVER,
      traceId: echoRun.traceId,
      parentSpanId: '',
      attributes: {
        'http.request.method': 'POST',
        'http.route': '/api/tasks',
        'url.path': '/api/tasks',
        'http.response.status_code': 201,
      },
    });

    // The openai run: the caller's trace, down to one client span per model call.
    const openaiRun = runOf(openaiId);
    expect(openaiRun.traceId).toBe(callerTrace);
    const openaiRequest = parentOf(parentOf(openaiRun) as ReceivedSpan);
    expect(openaiRequest).toMatchObject({ name: 'POST /api/tasks', parentSpanId: callerSpan });
    const calls = spans.filter((s) => s.parentSpanId === openaiRun.spanId && s.kind === CLIENT);
    expect(calls.map((c) => c.name)).toEqual(['chat gpt-4.1', 'chat gpt-4.1']);
    expect(calls.map((c) => c.traceId)).toEqual([callerTrace, callerTrace]);
    expect(calls[1]?.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'openai',
      'gen_ai.request.model': 'gpt-4.1',
      'gen_ai.usage.input_tokens': 20,
      'gen_ai.usage.output_tokens': 4,
    });
  });
});
