import type { WorkerHeartbeatDto } from '@ccl/contracts';
import type { CoreDeps } from './deps.ts';

/** What a worker process says about itself in each heartbeat. */
export interface WorkerIdentity {
  id: string;
  host: string;
  pid: number;
  role: string;
  queueName: string;
  concurrency: number;
}

/** A worker not heard from for this many intervals is shown as stale. */
export const STALE_AFTER_BEATS = 3;
/** Rows of workers gone this long are removed by the next heartbeat of any worker. */
const FORGET_AFTER_S = 3600;

/**
 * Upserts this worker's row. `last_seen_at` is the database's clock, not the worker's, so the
 * stale check compares times from one clock even when workers run on several hosts. The columns
 * are `timestamp` holding UTC, as Prisma writes them, hence timezone('UTC', now()).
 */
export async function beatWorker(
  deps: Pick<CoreDeps, 'prisma'>,
  me: WorkerIdentity,
  running: number,
): Promise<void> {
  await deps.prisma.$executeRaw`
    INSERT INTO workers (id, host, pid, role, queue_name, concurrency, running, started_at, last_seen_at)
    VALUES (${me.id}::uuid, ${me.host}, ${me.pid}, ${me.role}, ${me.queueName}, ${me.concurrency},
            ${running}, timezone('UTC', now()), timezone('UTC', now()))
    ON CONFLICT (id) DO UPDATE SET running = EXCLUDED.running, last_seen_at = EXCLUDED.last_seen_at`;
  await deps.prisma.$executeRaw`
    DELETE FROM workers
     WHERE last_seen_at < timezone('UTC', now()) - make_interval(secs => ${FORGET_AFTER_S}::float8)`;
}

/** A graceful stop: the worker leaves the list at once instead of turning stale. */
export async function forgetWorker(deps: Pick<CoreDeps, 'prisma'>, id: string): Promise<void> {
  await deps.prisma.worker.deleteMany({ where: { id } });
}

interface WorkerRow {
  id: string;
  host: string;
  pid: number;
  role: string;
  queue_name: string;
  concurrency: number;
  running: number;
  started_at: Date;
  last_seen_at: Date;
  stale: boolean;
}

/** Workers of every queue on this database, live ones first; staleness judged by the database's clock. */
export async function listWorkers(deps: Pick<CoreDeps, 'prisma' | 'config'>): Promise<WorkerHeartbeatDto[]> {
  const staleAfter = deps.config.WORKER_HEARTBEAT_S * STALE_AFTER_BEATS;
  const rows = await deps.prisma.$queryRaw<WorkerRow[]>`
    SELECT id::text AS id, host, pid, role, queue_name, concurrency, running, started_at, last_seen_at,
           last_seen_at < timezone('UTC', now()) - make_interval(secs => ${staleAfter}::float8) AS stale
      FROM workers
     WHERE last_seen_at >= timezone('UTC', now()) - make_interval(secs => ${FORGET_AFTER_S}::float8)
     ORDER BY stale, host, pid
     LIMIT 200`;
  return rows.map((r) => ({
    id: r.id,
    host: r.host,
    pid: r.pid,
    role: r.role,
    queue: r.queue_name,
    concurrency: r.concurrency,
    running: r.running,
    started_at: r.started_at.toISOString(),
    last_seen_at: r.last_seen_at.toISOString(),
    stale: r.stale,
  }));
}
