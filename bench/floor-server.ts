// The throughput scenario's floor: the least a server that keeps its runs in PostgreSQL can do per
// run, in one process as ours runs with role=all. POST /api/tasks checks the bearer key against a
// value in memory, validates the body with the very zod schema ours uses, INSERTs one row into
// `runs` and adds the BullMQ job (bare-bullmq.ts's queue, so its options are the baseline's); a
// Worker in this process does one UPDATE per job. No audit, no permissions, no notices.
// Statements go the way ours sends its hot ones: raw on the pool of the project's own Prisma setup
// (packages/db's createPrisma and sqlOf), so the floor differs from ours in what ours does, not in
// the driver.
// Args: <redis|postgres> <databaseUrl> <queueUrl> <queue> <prefix> <concurrency> <milestones>; the
// queue lives on Redis at queueUrl, or on BullMQ's Postgres backend in the database at queueUrl.
// Its first line carries the port and the API key; then `{"completed": n}` each time the number of
// UPDATEs committed reaches one of the comma-separated milestones, or `{"failed": reason}`.
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import Fastify from 'fastify';
import { createTaskBodySchema } from '../packages/contracts/src/index.ts';
import { Prisma } from '../packages/db/src/generated/client.ts';
import { createPrisma } from '../packages/db/src/prisma.ts';
import { sqlOf } from '../packages/db/src/raw-sql.ts';
import { type BareBackend, bareQueue } from './bare-bullmq.ts';
import { stopWithParent } from './with-parent.ts';

type Bullmq = typeof import('../packages/queue/node_modules/bullmq/dist/esm/index.js');
const bullmq = createRequire(import.meta.url)('../packages/queue/node_modules/bullmq') as Bullmq;

/** bare-bullmq.ts's worker settings, which are ours (it keeps them to itself). */
const WORKER_OPTIONS = { lockDuration: 30_000, stalledInterval: 5_000 };

const [backend, databaseUrl, queueUrl, name, prefix, concurrency, milestones] = process.argv.slice(2);
if (!backend || !databaseUrl || !queueUrl || !name || !prefix)
  throw new Error('usage: <backend> <databaseUrl> <queueUrl> <queue> <prefix> <concurrency> <milestones>');
const schema = prefix.replaceAll('-', '_');
const marks = new Set((milestones ?? '').split(',').map(Number));
const key = randomBytes(24).toString('base64url');
const expected = Buffer.from(`Bearer ${key}`);

const prisma = createPrisma(databaseUrl);
await prisma.$executeRaw`CREATE TABLE IF NOT EXISTS runs (
  id uuid PRIMARY KEY,
  state text NOT NULL,
  prompt text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
)`;
const { queue, add } = bareQueue(backend as BareBackend, queueUrl, name, prefix, schema);
await queue.waitUntilReady();

type Job = { data: { executionId: string } };
const complete = async (job: Job) => {
  await sqlOf(prisma).query(Prisma.sql`UPDATE runs SET state = 'COMPLETED', updated_at = now()
    WHERE id = ${job.data.executionId}::uuid`);
};
const workerOptions = { prefix, concurrency: Number(concurrency), ...WORKER_OPTIONS };
const { createPostgresBackend, createRedisBackend, withBackend } = bullmq;
const worker =
  backend === 'redis'
    ? new (withBackend(createRedisBackend).Worker)(name, complete, {
        connection: { url: queueUrl },
        ...workerOptions,
      })
    : new (withBackend(createPostgresBackend).Worker)(name, complete, {
        connection: { connectionString: queueUrl, schema, migrate: true },
        ...workerOptions,
      });
let completed = 0;
worker.on('completed', () => {
  completed += 1;
  if (marks.has(completed)) process.stdout.write(`${JSON.stringify({ completed })}\n`);
});
worker.on('failed', (_job, err) => process.stdout.write(`${JSON.stringify({ failed: err.message })}\n`));
await worker.waitUntilReady();

const app = Fastify({ logger: false });
app.post('/api/tasks', async (request, reply) => {
  const given = Buffer.from(request.headers.authorization ?? '');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return reply.code(401).send();
  const body = createTaskBodySchema.safeParse(request.body);
  if (!body.success) return reply.code(400).send({ error: body.error.message });
  const id = randomUUID();
  await sqlOf(prisma).query(Prisma.sql`INSERT INTO runs (id, state, prompt)
    VALUES (${id}::uuid, 'QUEUED', ${body.data.prompt ?? body.data.title})`);
  await add(id);
  return reply.code(201).send({ id, state: 'QUEUED' });
});
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
const port = typeof address === 'object' && address ? address.port : 0;
process.stdout.write(`${JSON.stringify({ port, pid: process.pid, key })}\n`);
stopWithParent();
process.on('SIGTERM', async () => {
  await app.close();
  await worker.close();
  await queue.close();
  await prisma.$disconnect();
  process.exit(0);
});
