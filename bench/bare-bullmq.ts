// The baseline's BullMQ: the very copy @ccl/queue runs (bullmq is a dependency of that package only,
// so the bench reaches it through the package's folder rather than adding it to the root manifest),
// with the job and worker options our execution queue uses, so both sides do the same queue work.
import { createRequire } from 'node:module';
import type { BackendClasses, IQueueBackend } from '../packages/queue/node_modules/bullmq/dist/esm/index.js';

type Bullmq = typeof import('../packages/queue/node_modules/bullmq/dist/esm/index.js');
const bullmq = createRequire(import.meta.url)('../packages/queue/node_modules/bullmq') as Bullmq;

export type BareBackend = 'redis' | 'postgres';

/**
 * As packages/queue/src/queue-settings.ts sets them (EXECUTION_ATTEMPTS' default of 3): Redis drops
 * finished jobs past the newest 1000 as each finishes; the Postgres backend keeps them (ours has
 * its reconciler remove them minutes later, which a bench never reaches).
 */
const jobOptions = (backend: BareBackend) => {
  const keep = backend === 'redis' ? { count: 1000 } : false;
  return {
    attempts: 3,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: keep,
    removeOnFail: keep,
  };
};
const WORKER_OPTIONS = { lockDuration: 30_000, stalledInterval: 5_000 };

/**
 * A bare Queue (and, on demand, a Worker) on `url`: Redis under the key prefix, or BullMQ's Postgres
 * backend in `schema` (by default one named after the prefix).
 */
export function bareQueue(
  backend: BareBackend,
  url: string,
  name: string,
  prefix: string,
  schema = prefix.replaceAll('-', '_'),
) {
  const { createPostgresBackend, createRedisBackend, withBackend } = bullmq;
  if (backend === 'redis')
    return open(withBackend(createRedisBackend), { url }, name, prefix, jobOptions(backend));
  return open(
    withBackend(createPostgresBackend),
    { connectionString: url, schema, migrate: true },
    name,
    prefix,
    jobOptions(backend),
  );
}

/**
 * Our server's own queue, as the bench reaches it from outside: the default prefix `clawlink` in
 * Redis, or the Postgres backend's schema for it (packages/queue/src/queue-settings.ts).
 */
export const serverQueue = (backend: BareBackend, url: string, name: string) =>
  bareQueue(backend, url, name, 'clawlink', 'bullmq_clawlink');

function open<B extends IQueueBackend, C>(
  classes: BackendClasses<B, C>,
  connection: C,
  name: string,
  prefix: string,
  defaultJobOptions: ReturnType<typeof jobOptions>,
) {
  const queue = new classes.Queue<{ executionId: string }>(name, {
    connection,
    prefix,
    defaultJobOptions,
  });
  return {
    queue,
    add: (id: string) => queue.add('execution', { executionId: id }, { jobId: id }),
    /** A worker whose processor does nothing; `onCompleted` hears each finished job. */
    worker(concurrency: number, onCompleted: () => void) {
      const worker = new classes.Worker(name, async () => undefined, {
        connection,
        prefix,
        concurrency,
        ...WORKER_OPTIONS,
      });
      worker.on('completed', onCompleted);
      return worker;
    },
  };
}

/** Removes a bench server's queue from the shared Redis (it lives under the default prefix). */
export async function dropServerQueue(redis: string, name: string): Promise<void> {
  const { queue } = serverQueue('redis', redis, name);
  await queue.obliterate({ force: true });
  await queue.close();
}
