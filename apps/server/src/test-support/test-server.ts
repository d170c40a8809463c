import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { loadConfig } from '@ccl/config';
import { addUser, type CoreDeps, createApiKey } from '@ccl/core';
import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase, testRedisUrl } from '@ccl/testing';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { operatorCtx } from '../cli-support.ts';
import { createLogger } from '../log.ts';
import type { RouteEntry } from '../permission-matrix.ts';
import { type Role, startServer } from '../server.ts';
import type { TelegramService } from '../telegram/service.ts';
import { TEST_AUDIT_HMAC_KEY } from './run-cli.ts';

export { TEST_AUDIT_HMAC_KEY };

export type Backend = 'redis' | 'postgres';
export const BACKENDS: Backend[] = ['redis', 'postgres'];

export interface TestServer {
  /** http://127.0.0.1:<port> */
  url: string;
  databaseUrl: string;
  prisma: PrismaClient;
  deps: CoreDeps;
  routes: RouteEntry[];
  /** The process's Telegram bot, when TELEGRAM_BOT_TOKEN was given. */
  telegram: TelegramService | null;
  /** Fastify's inject() into the running app (no socket; the peer looks like loopback). */
  inject(opts: InjectOptions): Promise<LightMyRequestResponse>;
  /** Text the server wrote to its terminal (first-admin notice…). */
  output: () => string;
  /** The server's log lines (JSON), at the LOG_LEVEL the test asked for (silent by default). */
  logs: () => string;
  addUser(id: string, role: string): Promise<void>;
  /** addUser, then an API key with every permission of the role (made by the operator, as the CLI would). */
  addUserWithKey(id: string, role: string): Promise<{ key: string; keyId: string }>;
  /** Stops the server as SIGTERM would, keeping the database for inspection; stop() still drops it. */
  stopServer(): Promise<void>;
  stop(): Promise<void>;
}

/** A whole server (api + worker) on a fresh database and its own queue, as `npm start` builds it. */
export async function startTestServer(
  opts: { backend: Backend; env?: Record<string, string>; role?: Role; shareDatabaseWith?: TestServer } = {
    backend: 'postgres',
  },
): Promise<TestServer> {
  // A second role of the same deployment shares the first one's database; only the owner drops it.
  const db = opts.shareDatabaseWith
    ? { url: opts.shareDatabaseWith.databaseUrl, drop: async () => {} }
    : await createTestDatabase();
  const config = loadConfig({
    DATABASE_URL: db.url,
    REDIS_URL: opts.backend === 'redis' ? testRedisUrl() : '',
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    QUEUE_NAME: `t-${randomBytes(6).toString('hex')}`,
    // Tests fire requests far faster than any client; the limits have their own test.
    RATE_LIMIT_PER_MINUTE: '0',
    RATE_LIMIT_SUBMIT_PER_MINUTE: '0',
    RATE_LIMIT_FAILED_POLLS_PER_MINUTE: '0',
    AUDIT_HMAC_KEY: TEST_AUDIT_HMAC_KEY,
    ...opts.env,
  });
  let text = '';
  const out = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  let logText = '';
  const logSink = new Writable({
    write(chunk, _enc, cb) {
      logText += String(chunk);
      cb();
    },
  });
  const server = await startServer(config, createLogger(config, logSink), opts.role ?? 'all', out);
  const prisma = createPrisma(db.url, { max: 4 });
  const port = server.url ? new URL(server.url).port : '0';
  return {
    url: `http://127.0.0.1:${port}`,
    databaseUrl: db.url,
    prisma,
    deps: server.deps,
    routes: server.routes,
    telegram: server.telegram,
    inject: (injectOpts) => {
      if (!server.inject) throw new Error('a worker-only server has no HTTP app to inject into');
      return server.inject(injectOpts);
    },
    output: () => text,
    logs: () => logText,
    addUser: async (id, role) => {
      await addUser({ prisma, audit: server.deps.audit }, { id, role });
    },
    addUserWithKey: async (id, role) => {
      await addUser({ prisma, audit: server.deps.audit }, { id, role });
      const created = await createApiKey(server.deps, operatorCtx(), { userId: id, name: 'test' });
      return { key: created.key, keyId: created.id };
    },
    stopServer: () => server.stop(),
    async stop() {
      await server.stop();
      await prisma.$disconnect();
      await db.drop();
    },
  };
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON answers and assert on their shape.
export type Json = any;

export async function readJson(res: Response): Promise<Json> {
  return res.json();
}

/** POST /api/tasks as the local developer: the card's id and its execution's. */
export async function submitRun(
  server: Pick<TestServer, 'url'>,
  body: Record<string, unknown>,
): Promise<{ taskId: string; executionId: string }> {
  const res = await fetch(`${server.url}/api/tasks`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  const card = (await res.json()) as { id: string; latest_execution: { id: string } };
  return { taskId: card.id, executionId: card.latest_execution.id };
}

/** POST /api/tasks of an echo run as the local developer: the card's id and its execution's. */
export function submitEcho(
  server: Pick<TestServer, 'url'>,
  project: string,
  title: string,
  echo: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Promise<{ taskId: string; executionId: string }> {
  return submitRun(server, {
    project,
    title,
    prompt: title,
    agent_type: 'echo',
    context: { echo },
    ...extra,
  });
}

/** The execution's row once it is in `states` (by default, once it has ended). */
export function executionIn(
  server: Pick<TestServer, 'prisma'>,
  id: string,
  states: string[] = ['COMPLETED', 'FAILED', 'CANCELLED'],
  timeoutMs = 20_000,
) {
  return waitFor(async () => {
    const row = await server.prisma.execution.findUnique({ where: { id } });
    return row && states.includes(row.state) ? row : null;
  }, timeoutMs);
}

/** A worker process of `api`'s deployment: its database and its queue, with `env` on top. */
export function startWorkerFor(
  api: TestServer,
  opts: { backend: Backend; env?: Record<string, string> },
): Promise<TestServer> {
  return startTestServer({
    backend: opts.backend,
    role: 'worker',
    shareDatabaseWith: api,
    env: { ...opts.env, QUEUE_NAME: api.deps.config.QUEUE_NAME },
  });
}

/** An api process and the workers a test starts for it: one deployment, one database and queue. */
export interface Deployment {
  api: TestServer;
  /** Starts a worker of the deployment, with the deployment's settings and `extra` on top. */
  worker(extra?: Record<string, string>): Promise<TestServer>;
  /** Stops the workers started so far, the last started first. */
  stopWorkers(): Promise<void>;
  /** Stops the workers, then the api. */
  stop(): Promise<void>;
}

export async function startDeployment(
  backend: Backend,
  env: Record<string, string> = {},
): Promise<Deployment> {
  const api = await startTestServer({ backend, role: 'api', env });
  const workers: TestServer[] = [];
  const stopWorkers = async () => {
    for (const worker of workers.splice(0).reverse()) await worker.stop().catch(() => undefined);
  };
  return {
    api,
    stopWorkers,
    async worker(extra = {}) {
      const worker = await startWorkerFor(api, { backend, env: { ...env, ...extra } });
      workers.push(worker);
      return worker;
    },
    async stop() {
      await stopWorkers();
      await api.stop();
    },
  };
}

/** Spend this month in `projectId` by `userId`: a finished run that cost `usd`, as the worker leaves one. */
export async function recordSpend(
  prisma: PrismaClient,
  run: { projectId: string; userId: string; usd: number },
): Promise<void> {
  const task = await prisma.task.create({
    data: { projectId: run.projectId, title: 'Spent', creatorId: run.userId },
  });
  await prisma.execution.create({
    data: {
      taskId: task.id,
      requestedAgent: 'echo',
      agentType: 'echo',
      prompt: 'p',
      userId: run.userId,
      state: 'COMPLETED',
      usage: { cost_usd: run.usd },
    },
  });
}
