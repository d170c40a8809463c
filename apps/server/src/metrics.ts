import { type CoreDeps, type ExecutionChange, sameSecret } from '@ccl/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { AppInstance } from './app.ts';
import { isLoopbackPeer } from './auth.ts';
import type { EventHub } from './event-hub.ts';
import { type RunGroup, RunTotalsReader, sumBy } from './metrics-totals.ts';
import { open } from './permission-matrix.ts';

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

/**
 * The Prometheus metrics of an API process (`GET /metrics`). Request durations and finished runs
 * are counted as they happen, in this process; everything about the deployment as a whole
 * (executions by state, the queue, cost, approvals waiting, workers) is read from PostgreSQL and the
 * queue when scraped, so any one API process answers for all of them. The run totals are read
 * incrementally (metrics-totals.ts): a scrape costs the runs that changed, not the whole history.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly http: Histogram<'method' | 'route' | 'status'>;
  private readonly durations: Histogram<'agent' | 'state'>;

  constructor(private readonly deps: CoreDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.http = new Histogram({
      name: 'clawlink_http_request_duration_seconds',
      help: 'HTTP requests by route template and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers,
    });
    this.durations = new Histogram({
      name: 'clawlink_execution_duration_seconds',
      help: 'Executions from start to end, by agent and end state (finished while this process ran)',
      labelNames: ['agent', 'state'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers,
    });
    const db = deps.prisma;
    const totals = new RunTotalsReader(db);
    new Gauge({
      name: 'clawlink_executions',
      help: 'Executions by state and agent',
      labelNames: ['state', 'agent'],
      registers,
      async collect() {
        const { groups } = await totals.read();
        this.reset();
        for (const r of sumBy(groups, (g) => `${g.state} ${g.agent}`).values())
          this.set({ state: r.state.toLowerCase(), agent: r.agent }, r.runs);
      },
    });
    new Gauge({
      name: 'clawlink_approvals_waiting',
      help: 'Executions waiting for an approval',
      registers,
      async collect() {
        const { groups } = await totals.read();
        this.set(groups.filter((g) => g.state === 'WAITING').reduce((n, g) => n + g.runs, 0));
      },
    });
    new Gauge({
      name: 'clawlink_queue_jobs',
      help: 'Queue jobs by BullMQ state',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await deps.queue.counts?.();
        this.reset();
        for (const [state, n] of Object.entries(counts ?? {})) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'clawlink_queue_oldest_pending_age_seconds',
      help: 'Age of the oldest execution not yet started (0: none)',
      registers,
      async collect() {
        const oldest = await db.execution.findFirst({
          where: { state: 'PENDING' },
          orderBy: { createdAt: 'asc' },
          select: { createdAt: true },
        });
        this.set(oldest ? (Date.now() - oldest.createdAt.getTime()) / 1000 : 0);
      },
    });
    const usage = new Gauge({
      name: 'clawlink_tokens',
      help: 'Model tokens used, by agent, project and kind (input, output)',
      labelNames: ['agent', 'project', 'kind'],
      registers,
    });
    new Gauge({
      name: 'clawlink_cost_usd',
      help: 'Model cost in US dollars, by agent and project',
      labelNames: ['agent', 'project'],
      registers,
      async collect() {
        const { groups, slugs } = await totals.read();
        const project = (g: RunGroup) => slugs.get(g.projectId) ?? g.projectId;
        this.reset();
        usage.reset();
        for (const r of sumBy(groups, (g) => `${g.agent} ${project(g)}`).values()) {
          const labels = { agent: r.agent, project: project(r) };
          this.set(labels, r.cost);
          usage.set({ ...labels, kind: 'input' }, r.input);
          usage.set({ ...labels, kind: 'output' }, r.output);
        }
      },
    });
    const running = new Gauge({
      name: 'clawlink_worker_running',
      help: 'Executions each worker process is running',
      labelNames: ['worker', 'host'],
      registers,
    });
    new Gauge({
      name: 'clawlink_worker_heartbeat_age_seconds',
      help: 'Seconds since each worker process last beat, with its running executions in clawlink_worker_running',
      labelNames: ['worker', 'host'],
      registers,
      async collect() {
        const workers = await db.worker.findMany();
        this.reset();
        running.reset();
        for (const w of workers) {
          this.set({ worker: w.id, host: w.host }, (Date.now() - w.lastSeenAt.getTime()) / 1000);
          running.set({ worker: w.id, host: w.host }, w.running);
        }
      },
    });
    new Gauge({
      name: 'clawlink_reconciler_actions',
      help: 'Changes the reconciler made to lost executions (its rows in the audit log)',
      registers,
      async collect() {
        this.set((await totals.read()).reconcilerActions);
      },
    });
    new Counter({
      name: 'clawlink_build_info',
      help: 'Always 1; the label says which queue backend this deployment uses',
      labelNames: ['queue'],
      registers,
    }).inc({ queue: deps.queue.backend ?? 'unknown' }, 1);
  }

  /** One child per method, route and status: the polls take this path, so no label hashing per request. */
  private readonly httpSeries = new Map<string, { observe(value: number): void }>();

  /** Times every answered request by its route template (never the raw URL: ids would explode it). */
  observeRequest(request: FastifyRequest, reply: FastifyReply): void {
    const route = request.routeOptions.url ?? 'unmatched';
    const key = `${request.method} ${reply.statusCode} ${route}`;
    let series = this.httpSeries.get(key);
    if (!series) {
      series = this.http.labels({ method: request.method, route, status: String(reply.statusCode) });
      this.httpSeries.set(key, series);
    }
    series.observe(reply.elapsedTime / 1000);
  }

  /**
   * Watches runs end for the duration histogram: the end's notice names the agent and the time run;
   * one from elsewhere that does not (a process of an older version) costs a read.
   */
  watch(hub: EventHub): () => void {
    return hub.on('*', (change: ExecutionChange) => {
      if (!TERMINAL.has(change.state)) return;
      const { ended } = change;
      if (ended) {
        const state = change.state.toLowerCase();
        if (ended.seconds !== null) this.durations.observe({ agent: ended.agentType, state }, ended.seconds);
        return;
      }
      void this.deps.prisma.execution
        .findUnique({
          where: { id: change.executionId },
          select: { agentType: true, startedAt: true, finishedAt: true, state: true },
        })
        .then((e) => {
          if (!e?.startedAt || !e.finishedAt) return;
          const seconds = (e.finishedAt.getTime() - e.startedAt.getTime()) / 1000;
          this.durations.observe({ agent: e.agentType, state: e.state.toLowerCase() }, seconds);
        })
        .catch(() => undefined);
    });
  }
}

/** GET /metrics: from this machine, or with METRICS_TOKEN as the bearer. */
export function metricsRoutes(app: AppInstance, metrics: Metrics): void {
  const token = app.deps.config.METRICS_TOKEN;
  // On the root instance, so it sees every route's answers.
  app.addHook('onResponse', (request, reply, done) => {
    metrics.observeRequest(request, reply);
    done();
  });
  app.get(
    '/metrics',
    {
      config: {
        access: open(
          'Prometheus: peers on this machine, or anyone with METRICS_TOKEN as the bearer (checked in constant time); counts only, no ids',
        ),
      },
      schema: {
        operationId: 'metrics',
        tags: ['health'],
        summary: 'Prometheus metrics (text format)',
        hide: true,
      },
    },
    async (request, reply) => {
      const local = isLoopbackPeer(request);
      const auth = request.headers.authorization;
      const bearer = typeof auth === 'string' && auth.startsWith('Bearer ') ? auth.slice(7) : undefined;
      if (!local && !(token && sameSecret(bearer, token))) {
        return reply.status(401).send({
          error: 'unauthorized',
          message: token
            ? 'send METRICS_TOKEN as "Authorization: Bearer <token>"'
            : 'metrics are served to this machine only; set METRICS_TOKEN to scrape from elsewhere',
        });
      }
      const text = await metrics.registry.metrics();
      return reply.header('content-type', metrics.registry.contentType).send(text);
    },
  );
}
