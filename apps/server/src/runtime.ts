import { fileURLToPath } from 'node:url';
import { createAgentCatalog, describeSandbox, FreshRepoTemplate, type Sandbox } from '@ccl/agents';
import type { Config } from '@ccl/config';
import {
  type CoreDeps,
  ensureBuiltins,
  GithubApps,
  loadSkills,
  sealAuditChain,
  signAuditHead,
} from '@ccl/core';
import { createPrisma, migrateDatabase, type PrismaClient } from '@ccl/db';
import { createExecutionQueue, createNotifier, type ExecutionQueue, type Notifier } from '@ccl/queue';
import type { Logger } from 'pino';
import { loadAuditSigner } from './audit-key.ts';
import { type Database, openDatabase } from './database.ts';
import { loadSecretsKeyring } from './secrets-key.ts';
import type { Tracing } from './tracing.ts';

export const BUILTIN_SKILLS_DIR = fileURLToPath(new URL('../../../skills', import.meta.url));

/** Everything a role needs, built once; `close` releases it in reverse order. */
export interface Runtime {
  config: Config;
  db: Database;
  prisma: PrismaClient;
  queue: ExecutionQueue;
  notifier: Notifier;
  deps: CoreDeps;
  /** OpenTelemetry, when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  tracing: Tracing | null;
  close(): Promise<void>;
}

export async function openRuntime(
  config: Config,
  log: Logger,
  opts: { migrate: boolean; poolSize?: number; db?: Promise<Database>; tracing?: Tracing | null },
): Promise<Runtime> {
  const db = await (opts.db ?? openDatabase(config, log));
  // What was opened before a failed start, closed again in reverse order.
  const opened: Array<() => Promise<unknown>> = [];
  try {
    if (opts.migrate) {
      const { applied } = await migrateDatabase(db.url, { log: (msg: string) => log.info(msg) });
      if (applied.length) log.info({ applied }, 'migrations applied');
    }
    // A server process keeps up to 10 of its connections open (the api's whole pool), made as load needs them.
    const prisma = createPrisma(db.url, {
      ...(opts.poolSize ? { max: opts.poolSize } : {}),
      keepOpen: Math.min(opts.poolSize ?? 10, 10),
    });
    opened.push(() => prisma.$disconnect());
    const agents = createAgentCatalog(config);
    // Independent start-up steps side by side: Prisma's first queries (its query compiler
    // loads then), skills read from disk, the sandbox probe (a bwrap start) and the keys.
    const [, skills, , secrets, audit] = await Promise.all([
      ensureBuiltins(prisma),
      loadSkills({ builtinDir: BUILTIN_SKILLS_DIR, customDir: config.SKILLS_DIR }),
      logSandbox(agents.sandbox, log),
      loadSecretsKeyring(config, db.embedded),
      loadAuditSigner(config, db.embedded),
    ]);
    for (const problem of skills.problems) log.warn({ problem }, 'skill not loaded');
    const queue = createExecutionQueue({
      databaseUrl: db.url,
      redisUrl: config.REDIS_URL,
      queueName: config.QUEUE_NAME,
      attempts: config.EXECUTION_ATTEMPTS,
      lockDurationMs: config.QUEUE_LOCK_DURATION_S * 1000,
      stalledIntervalMs: config.QUEUE_STALLED_CHECK_S * 1000,
      onError: (err) => log.warn({ err: err.message }, 'queue background error'),
    });
    opened.push(() => queue.close());
    await queue.ready();
    const notifier = createNotifier(db.url, {
      onError: (err) => log.warn({ err }, 'notifier connection problem'),
    });
    opened.push(() => notifier.close());
    const deps: CoreDeps = {
      prisma,
      config,
      audit,
      agents,
      skills,
      queue: opts.tracing ? opts.tracing.traceQueue(queue, prisma) : queue,
      bus: notifier,
      log,
      ...(secrets ? { secrets } : {}),
      freshRepo: new FreshRepoTemplate(),
      ...(config.GITHUB_APP_ID && config.GITHUB_APP_PRIVATE_KEY
        ? {
            githubApps: new GithubApps({
              apiUrl: config.GITHUB_API_URL,
              appId: config.GITHUB_APP_ID,
              privateKey: config.GITHUB_APP_PRIVATE_KEY,
              log,
            }),
          }
        : {}),
    };
    await sealAuditChain(deps);
    return {
      config,
      db,
      prisma,
      queue,
      notifier,
      deps,
      tracing: opts.tracing ?? null,
      async close() {
        // Every resource is released even when one of them fails to close; the database goes last.
        const steps: Array<[string, () => Promise<unknown>]> = [
          ['notifier', () => notifier.close()],
          ['queue', () => queue.close()],
          // The newest audit rows' signature, which would otherwise wait for the next start.
          ['audit head', () => signAuditHead(deps)],
          ['prisma', () => prisma.$disconnect()],
          ['database', () => db.stop()],
        ];
        for (const [name, step] of steps) {
          await step().catch((err: unknown) =>
            log.warn({ step: name, err: (err as Error).message }, 'close failed'),
          );
        }
      },
    };
  } catch (err) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    await db.stop();
    throw err;
  }
}

/** Says at boot where agents' commands will run; an unconfined or refusing sandbox is loud. */
async function logSandbox(sandbox: Sandbox, log: Logger): Promise<void> {
  const status = await sandbox.status();
  const sandboxInfo = describeSandbox(status);
  if (status.state === 'on') log.info({ sandbox: sandboxInfo }, 'agent commands run in the sandbox');
  else if (status.state === 'off')
    log.warn({ sandbox: sandboxInfo }, 'SANDBOX=off: agent commands are not sandboxed');
  else log.error({ sandbox: sandboxInfo }, 'the sandbox cannot start: agent commands will be refused');
}
