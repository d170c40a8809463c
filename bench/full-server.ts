// Our server on the database given in argv: `<databaseUrl> [redisUrl] [queueName]`, the api role
// only by default (so load measures the request path); `--role=all|worker` runs a worker too.
// `KEY=VALUE` arguments override its configuration (WORKER_CONCURRENCY, WORKSPACES_DIR…).
// With `--team`: AUTH_MODE team, and the line it prints also carries credentials made for the bench:
// an API key (CoderClaw 2026.3's `authToken`) and an approved device's secret, both of user `bench`.
// `--projects=N` adds projects bench-1 … bench-N. BENCH_SERVER_LOG=<level> in the bench's
// environment puts the server's log on stderr.
// Started with an IPC channel (and --expose-gc), it answers the message 'memory' with its memory
// after a full collection.
// `--milestones=a,b,…`: then `{"completed": n}` each time the number of runs whose COMPLETED notice
// this process heard (on its own change-notice subscription, as its live views hear it) reaches one
// of them, or `{"failed": id}` at a FAILED one: a run counted in the process that ran it, as the
// throughput baseline's and floor's are (throughput.ts).
import { loadConfig } from '@ccl/config';
import {
  addUser,
  approveDevice,
  CHANNELS,
  createApiKey,
  createProject,
  type ExecutionChange,
} from '@ccl/core';
import { operatorCtx } from '../apps/server/src/cli-support.ts';
import { createLogger } from '../apps/server/src/log.ts';
import { type Role, startServer } from '../apps/server/src/server.ts';
import { stopWithParent } from './with-parent.ts';

const args = process.argv.slice(2);
const team = args.includes('--team');
const role = (args.find((a) => a.startsWith('--role='))?.slice('--role='.length) ?? 'api') as Role;
const overrides = Object.fromEntries(
  args
    .filter((a) => /^[A-Z_]+=/.test(a))
    .map((a) => [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]),
);
const [databaseUrl, redisUrl, queueName] = args.filter((a) => !a.startsWith('--') && !/^[A-Z_]+=/.test(a));
const config = loadConfig({
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisUrl ?? '',
  HOST: '127.0.0.1',
  PORT: '0',
  LOG_LEVEL: 'silent',
  QUEUE_NAME: queueName ?? 'bench',
  AUDIT_HMAC_KEY: 'bench-audit-hmac-key-0123456789abcdef',
  // The limiters run on every request as in production, with ceilings the load never reaches.
  RATE_LIMIT_PER_MINUTE: '1000000',
  RATE_LIMIT_SUBMIT_PER_MINUTE: '1000000',
  ...(team ? { AUTH_MODE: 'team' } : {}),
  ...overrides,
  // BENCH_SERVER_LOG=<level>: the server's log on stderr, to see why a request failed under load.
  ...(process.env.BENCH_SERVER_LOG ? { LOG_LEVEL: process.env.BENCH_SERVER_LOG } : {}),
});
const logTo = process.env.BENCH_SERVER_LOG ? process.stderr : undefined;
const server = await startServer(
  config,
  createLogger(config, logTo as Parameters<typeof createLogger>[1]),
  role,
  (logTo ?? { write: () => true }) as unknown as NodeJS.WritableStream,
);
const credentials = team && role !== 'worker' ? await benchCredentials() : {};
// Made by the operator; open to every user, as a project without members is.
const projects = Number(args.find((a) => a.startsWith('--projects='))?.slice('--projects='.length) ?? 0);
for (let i = 1; i <= projects; i++) await createProject(server.deps, operatorCtx(), { slug: `bench-${i}` });
const milestones = args.find((a) => a.startsWith('--milestones='))?.slice('--milestones='.length);
if (milestones) await reportMilestones(new Set(milestones.split(',').map(Number)));
const port = server.url ? Number(new URL(server.url).port) : 0;
process.stdout.write(`${JSON.stringify({ port, pid: process.pid, ...credentials })}\n`);
stopWithParent();
process.on('SIGTERM', () => server.stop().then(() => process.exit(0)));
process.on('message', (message) => {
  if (message !== 'memory') return;
  // Exposed by --expose-gc: what is live, not what waits to be collected.
  (globalThis as { gc?: () => void }).gc?.();
  process.send?.(process.memoryUsage());
});

async function benchCredentials() {
  await addUser(server.deps, { id: 'bench', role: 'DEVELOPER' });
  const { key } = await createApiKey(server.deps, operatorCtx(), { userId: 'bench', name: 'bench' });
  const ref = { userId: 'bench', deviceId: 'laptop' };
  const { secret } = await approveDevice(server.deps, operatorCtx(), ref);
  return { key, secret };
}

async function reportMilestones(marks: Set<number>) {
  const ended = new Set<string>();
  await server.deps.bus.subscribe?.(CHANNELS.execution, (payload) => {
    const change = JSON.parse(payload) as ExecutionChange;
    if (change.state === 'FAILED')
      process.stdout.write(`${JSON.stringify({ failed: change.executionId })}\n`);
    if (change.state !== 'COMPLETED' || ended.has(change.executionId)) return;
    ended.add(change.executionId);
    if (marks.has(ended.size)) process.stdout.write(`${JSON.stringify({ completed: ended.size })}\n`);
  });
}
