import { errorBodySchema, eventsQuerySchema, refParamSchema, TERMINAL_STATES } from '@ccl/contracts';
import { listExecutionEvents, projectsInReach } from '@ccl/core';
import type { FastifyReply } from 'fastify';
import type { AppInstance } from '../app.ts';
import { actorOf, needs } from '../permission-matrix.ts';
import { endOnRevocation } from '../stream-revocation.ts';

const HEARTBEAT_MS = 15_000;

/** Takes the response over from Fastify and starts a text/event-stream (proxies told not to buffer it). */
function openEventStream(reply: FastifyReply) {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  return res;
}
const EVENT_PAGE = 500;

function lastEventId(header: string | string[] | undefined): number | undefined {
  const raw = Array.isArray(header) ? header[0] : header;
  if (raw === undefined || !/^\d+$/.test(raw)) return undefined;
  return Number(raw);
}

/**
 * GET /api/executions/:id/events — Server-Sent Events. Sends the stored events
 * after Last-Event-ID (or ?after=), then each new one as it is written; ends
 * with `event: end` once the execution is terminal and everything was sent.
 */
export async function eventRoutes(app: AppInstance): Promise<void> {
  const { deps, hub } = app;

  app.get(
    '/api/executions/:id/events',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'streamExecutionEvents',
        tags: ['executions'],
        summary: 'Live events as text/event-stream; resume with Last-Event-ID',
        params: refParamSchema,
        querystring: eventsQuerySchema,
        response: { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema },
      },
    },
    async (request, reply) => {
      const ctx = actorOf(request);
      let seq = lastEventId(request.headers['last-event-id']) ?? request.query.after ?? 0;
      // Fail before the stream starts, so unknown ids and refusals are normal JSON errors.
      const first = await listExecutionEvents(deps, ctx, request.params.id, seq, EVENT_PAGE);
      // The path may name the execution by its number; changes are heard by its id.
      const executionId = first.execution.id;

      const res = openEventStream(reply);

      let closed = false;
      let pumping: Promise<void> = Promise.resolve();
      let dirty = false;
      const write = (batch: Awaited<ReturnType<typeof listExecutionEvents>>) => {
        for (const ev of batch.events) {
          res.write(`id: ${ev.seq}\nevent: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`);
          seq = ev.seq;
        }
        // The execution row is read before its events, so a terminal state means every event is in this batch
        // unless the batch was cut at the page size.
        const done = TERMINAL_STATES.includes(batch.execution.state) && batch.events.length < EVENT_PAGE;
        if (done) {
          res.write(`event: end\ndata: ${JSON.stringify({ state: batch.execution.state })}\n\n`);
          close();
        }
      };
      // Coalesces bursts of notifications into one query at a time.
      const pump = () => {
        dirty = true;
        pumping = pumping.then(async () => {
          while (dirty && !closed) {
            dirty = false;
            try {
              write(await listExecutionEvents(deps, ctx, executionId, seq, EVENT_PAGE));
            } catch (err) {
              request.log.warn({ err }, 'sse read failed');
              close();
            }
          }
        });
      };
      const off = hub.on(executionId, pump);
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const unwatch = endOnRevocation(app, request, ctx, res, close);
      function close() {
        if (closed) return;
        closed = true;
        off();
        unwatch();
        clearInterval(heartbeat);
        res.end();
      }
      request.raw.on('close', close);
      write(first);
      if (!closed) pump();
    },
  );

  /**
   * GET /api/board/events — every execution change (new runs, state moves, progress) as
   * `event: execution` with { executionId, taskId, seq, state }, and every other card change (edit,
   * move, assignment, claim, a card made without a run) as `event: task` with { taskId }, so a
   * board refreshes the cards that moved. No replay: a reconnecting board reloads its lists.
   */
  app.get(
    '/api/board/events',
    {
      config: { access: needs('task:view') },
      schema: {
        operationId: 'streamBoardEvents',
        tags: ['tasks'],
        summary: 'Live changes of every execution, as text/event-stream',
        response: { 401: errorBodySchema, 403: errorBodySchema },
      },
    },
    async (request, reply) => {
      const ctx = actorOf(request);
      const res = openEventStream(reply);
      // Changes of tasks in projects out of the caller's reach are not sent (one lookup per task).
      const reach = projectsInReach(ctx);
      const inReach = new Map<string, Promise<boolean>>();
      const visible = (taskId: string) => {
        if (!reach) return Promise.resolve(true);
        let known = inReach.get(taskId);
        if (!known) {
          known = deps.prisma.task.count({ where: { id: taskId, project: reach } }).then((n) => n > 0);
          inReach.set(taskId, known);
        }
        return known;
      };
      let queue = Promise.resolve();
      // Chained, so changes keep their order while lookups are in flight.
      const send = (taskId: string, event: string, data: unknown) => {
        queue = queue
          .then(async () => {
            if (await visible(taskId)) res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
          })
          .catch(() => undefined);
      };
      // The notice's four fields; what else it carries (a run's end, for metrics) stays here.
      const offRuns = hub.on('*', ({ executionId, taskId, seq, state }) =>
        send(taskId, 'execution', { executionId, taskId, seq, state }),
      );
      const offCards = hub.onTask((taskId) => send(taskId, 'task', { taskId }));
      const off = () => {
        offRuns();
        offCards();
      };
      const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
      const close = () => {
        off();
        unwatch();
        clearInterval(heartbeat);
        res.end();
      };
      const unwatch = endOnRevocation(app, request, ctx, res, close);
      request.raw.on('close', close);
    },
  );
}
