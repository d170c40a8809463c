import { type Config, databasePoolSize } from '@ccl/config';
import { CHANNELS, type CoreDeps, ensureFirstAdmin, ReadCache, RefusalLog } from '@ccl/core';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { Logger } from 'pino';
import { buildApp } from './app.ts';
import type { Database } from './database.ts';
import { guardDroppedDatabaseConnections } from './dropped-connections.ts';
import { EventHub } from './event-hub.ts';
import { Metrics } from './metrics.ts';
import type { RouteEntry } from './permission-matrix.ts';
import { openRuntime } from './runtime.ts';
import { TelegramService } from './telegram/service.ts';
import { startTracing } from './tracing.ts';
import { startWorkerRole, type WorkerRole } from './worker.ts';

export type Role = 'all' | 'api' | 'worker';

/** How many connections may wait to be accepted (see the listen below): Linux's default cap, somaxconn. */
export const LISTEN_BACKLOG = 4096;

export interface Started {
  url: string | null;
  /** The domain dependencies this process runs with (tests drive use cases through them). */
  deps: CoreDeps;
  /** The HTTP routes this process serves (empty for a worker). */
  routes: RouteEntry[];
  /** Sends a request straight into the HTTP app, without a socket (tests); null for a worker. */
  inject: ((opts: InjectOptions) => Promise<LightMyRequestResponse>) | null;
  /** The Telegram bot of this process, when TELEGRAM_BOT_TOKEN is set (api role). */
  telegram: TelegramService | null;
  stop(): Promise<void>;
}

function printFirstAdmin(admin: { userId: string; token: string }, out: NodeJS.WritableStream) {
  // Written straight to the terminal, never through the logger: it must appear once and nowhere else.
  out.write(
    [
      '',
      '  First administrator created. This token is shown once; store it now:',
      `    user:  ${admin.userId}`,
      `    token: ${admin.token}`,
      '  Use it as "Authorization: Bearer <token>" (e.g. for /api/audit/events).',
      '  Replace it (the old one then stops working) with: npm run clawlink -- user token admin',
      '',
    ].join('\n'),
  );
}

/** The composition root of `clawlink start`: config → database → queue → api and/or worker. */
export async function startServer(
  config: Config,
  log: Logger,
  role: Role,
  out: NodeJS.WritableStream = process.stdout,
  /** Already starting (see cli-start.ts); opened here otherwise. */
  db?: Promise<Database>,
): Promise<Started> {
  guardDroppedDatabaseConnections(log);
  const tracing = await startTracing(config, log);
  const rt = await openRuntime(config, log, {
    migrate: role !== 'worker',
    poolSize: databasePoolSize(config, role),
    ...(db ? { db } : {}),
    tracing,
  }).catch(async (err: unknown) => {
    await tracing?.shutdown();
    throw err;
  });
  const admin = await ensureFirstAdmin(rt.deps);
  if (admin) printFirstAdmin(admin, out);

  let worker: WorkerRole | null = null;
  let hub: EventHub | null = null;
  let refusals: RefusalLog | undefined;
  let app: Awaited<ReturnType<typeof buildApp>> | null = null;
  let telegram: TelegramService | null = null;
  let url: string | null = null;
  try {
    if (role !== 'worker') {
      hub = new EventHub();
      await hub.start(rt.notifier);
      // Change notices keep it fresh, so answers are kept 30 s: a task polled once a second is read
      // from the database once per change, not once per poll. A LISTEN gap clears it. 2026.3's
      // execution poll keeps its answers 5 minutes: a submit keeps its run's answer there, and a
      // run waiting in a backlog is polled for as long as it waits without changing.
      const cache = new ReadCache({ taskTtlMs: 30_000, runtimeTtlMs: 300_000 });
      rt.notifier.onGap(() => cache.forgetAll());
      refusals = new RefusalLog(rt.deps);
      refusals.start();
      hub.on('*', (change) => cache.taskChanged(change.taskId, change.executionId, change));
      // A card edited (its title is in the state answer) or moved.
      hub.onTask((taskId) => cache.taskChanged(taskId));
      // A device revoked in any process (the CLI too) ends its sessions here at once.
      await rt.notifier.subscribe(CHANNELS.sessions, () => cache.forgetAllSessions());
      // A project, its members or its secrets changed (database triggers, whoever wrote): submits read it again.
      await rt.notifier.subscribe(CHANNELS.projects, () => cache.projects.forget());
      const apiDeps = { ...rt.deps, cache, refusals };
      if (config.TELEGRAM_BOT_TOKEN) {
        telegram = new TelegramService(apiDeps, { databaseUrl: rt.db.url, log });
        await telegram.start(hub, rt.notifier);
      }
      const metrics = new Metrics(apiDeps);
      metrics.watch(hub);
      app = await buildApp({
        deps: apiDeps,
        hub,
        telegram,
        metrics,
        queuePing: () => rt.queue.ping(),
        logger: log,
        tracing,
      });
      // Connections not yet accepted queue in the kernel up to `backlog` (Node's default: 511), and
      // one over it is dropped and retried by its client 1, 3, 7… s later. Hundreds of pollers that
      // each open a connection while the process is busy for a moment overflowed 511 and waited
      // seconds (docs/reliability.md, Backlog); the kernel still caps it (net.core.somaxconn).
      await app.listen({ host: config.HOST, port: config.PORT, backlog: LISTEN_BACKLOG });
      const address = app.server.address();
      const port = typeof address === 'object' && address ? address.port : config.PORT;
      const host = config.boundToLoopback ? 'localhost' : config.HOST;
      url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    }
    if (role !== 'api') worker = await startWorkerRole(rt, log, role);
  } catch (err) {
    await app?.close();
    await telegram?.stop();
    await refusals?.close();
    await hub?.stop();
    await rt.close();
    await tracing?.shutdown();
    throw err;
  }
  log.info(
    { role, url, database: rt.db.embedded ? 'embedded' : 'external', queue: rt.queue.backend },
    'clawlink started',
  );

  let stopping: Promise<void> | null = null;
  const http = app;
  return {
    url,
    deps: rt.deps,
    routes: app?.routeTable ?? [],
    inject: http ? (opts) => http.inject(opts) : null,
    telegram,
    stop: () => {
      stopping ??= (async () => {
        // Stop taking requests, let running jobs finish (or go back to the queue), then release the rest.
        // Each step runs even if an earlier one failed: a database that is already going away (a
        // terminal's Ctrl-C reaches embedded PostgreSQL too) must not keep the others open.
        const steps: Array<[string, () => Promise<unknown> | undefined]> = [
          ['http', () => app?.close()],
          ['telegram', () => telegram?.stop()],
          ['worker', () => worker?.close()],
          // Refusals counted but not yet written, while the database is still there.
          ['refusals', () => refusals?.close()],
          ['events', () => hub?.stop()],
          ['runtime', () => rt.close()],
          // Last: the spans of everything above are sent to the collector before the process ends.
          ['tracing', () => tracing?.shutdown()],
        ];
        for (const [name, step] of steps) {
          try {
            await step();
          } catch (err) {
            log.warn({ step: name, err: (err as Error).message }, 'shutdown step failed');
          }
        }
        log.info('clawlink stopped');
      })();
      return stopping;
    },
  };
}
