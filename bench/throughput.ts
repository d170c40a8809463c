// Issue 16, throughput: submit → COMPLETED of `echo` runs at 0 steps, N of them sent as POST
// /api/tasks by CLIENTS concurrent clients, until the last COMPLETED notice, against a bare BullMQ
// Queue + Worker (a processor that does nothing, the same worker concurrency, jobs added by the same
// number of clients) on the same backend, in the same run. Rounds alternate; the best of each side is kept.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, testRedisUrl, uniquePrefix } from '@ccl/testing';
import { bareQueue, dropServerQueue } from './bare-bullmq.ts';
import { watchExecutions } from './execution-watch.ts';
import {
  cpuSeconds,
  diagnosticFlags,
  echoTask,
  inParallel,
  keyedHeaders,
  progress,
  type Spawned,
  spawnServer,
  stopChild,
  submitTask,
} from './support.ts';

const N = Number(process.env.BENCH_TP_N ?? 400);
const CLIENTS = Number(process.env.BENCH_TP_CLIENTS ?? 16);
const WORKER_CONCURRENCY = Number(process.env.BENCH_TP_CONCURRENCY ?? 8);
const WARMUP = 40;
const ROUNDS = 2;
const TARGETS = { redis: 0.5, postgres: 0.3 } as const;
/** With BENCH_COUNT_QUERIES=<dir> (see diagnosticFlags), the SQL statements per execution are reported too. */
const COUNT_QUERIES = process.env.BENCH_COUNT_QUERIES;

type Backend = keyof typeof TARGETS;
/** One round: jobs per second, and the CPU the server (or the bare worker) process spent per job. */
type Round = { jobs_per_s: number; seconds: number; submit_seconds: number; process_cpu_ms_per_job: number };

function round(n: number, started: number, answered: number, ended: number, cpu: number): Round {
  const seconds = (ended - started) / 1000;
  return {
    jobs_per_s: n / seconds,
    seconds,
    submit_seconds: (answered - started) / 1000,
    process_cpu_ms_per_job: (cpu * 1000) / n,
  };
}

async function ourServer(backend: Backend) {
  const db = await createTestDatabase();
  const workspaces = await mkdtemp(join(tmpdir(), 'ccl-bench-tp-'));
  const queueName = uniquePrefix('bench-tp');
  const redis = backend === 'redis' ? testRedisUrl() : '';
  const server = await spawnServer(
    'full-server.ts',
    [
      db.url,
      redis,
      queueName,
      '--team',
      '--role=all',
      `WORKER_CONCURRENCY=${WORKER_CONCURRENCY}`,
      `WORKSPACES_DIR=${workspaces}`,
    ],
    { node: diagnosticFlags() },
  );
  const watch = await watchExecutions(db.url);
  const base = `http://127.0.0.1:${server.port}`;
  const headers = keyedHeaders(server.key ?? '');
  let submitted = 0;
  /** n runs submitted as a client does; the time from the first POST to the n-th COMPLETED notice. */
  const run = async (n: number): Promise<Round> => {
    const target = submitted + n;
    const cpu = cpuSeconds(server.pid);
    const started = performance.now();
    await inParallel(n, CLIENTS, (i) =>
      submitTask(base, headers, echoTask(`bench ${submitted + i}`, { steps: 0, delay_ms: 0 })),
    );
    const answered = performance.now();
    submitted = target;
    const ended = await watch.until(() => watch.count('COMPLETED') >= target, 60_000);
    return round(n, started, answered, ended, cpuSeconds(server.pid) - cpu);
  };
  return {
    run,
    /** With BENCH_COUNT_QUERIES: the statements the server sent per execution, and the most frequent ones. */
    statements: async () => {
      if (!COUNT_QUERIES) return null;
      await stopChild(server.child);
      const counts = JSON.parse(await readFile(join(COUNT_QUERIES, `queries-${server.pid}.json`), 'utf8'));
      const total = Object.values(counts as Record<string, number>).reduce((a, b) => a + b, 0);
      return {
        per_execution: total / submitted,
        executions: submitted,
        top: Object.entries(counts).slice(0, 15),
      };
    },
    async close() {
      await watch.close();
      await stopChild(server.child);
      if (redis) await dropServerQueue(redis, queueName);
      await db.drop();
      await rm(workspaces, { recursive: true, force: true });
    },
  };
}

async function bareBaseline(backend: Backend) {
  const db = backend === 'postgres' ? await createTestDatabase() : null;
  const url = db?.url ?? testRedisUrl();
  const prefix = uniquePrefix('bench-bare');
  const name = 'baseline';
  const milestones = Array.from({ length: ROUNDS + 1 }, (_, i) => WARMUP + i * N);
  const worker: Spawned = await spawnServer('bare-queue-worker.ts', [
    backend,
    url,
    name,
    prefix,
    String(WORKER_CONCURRENCY),
    milestones.join(','),
  ]);
  const reached = new Map<number, (at: number) => void>();
  worker.lines.on('line', (line) =>
    reached.get((JSON.parse(line) as { completed: number }).completed)?.(performance.now()),
  );
  const { queue, add } = bareQueue(backend, url, name, prefix);
  let added = 0;
  const run = async (n: number): Promise<Round> => {
    const target = added + n;
    const done = new Promise<number>((resolve) => reached.set(target, resolve));
    const cpu = cpuSeconds(worker.pid);
    const started = performance.now();
    await inParallel(n, CLIENTS, (i) => add(`job-${added + i}`));
    const answered = performance.now();
    added = target;
    const ended = await done;
    return round(n, started, answered, ended, cpuSeconds(worker.pid) - cpu);
  };
  return {
    run,
    async close() {
      await stopChild(worker.child);
      if (backend === 'redis') await queue.obliterate({ force: true });
      await queue.close();
      await db?.drop();
    },
  };
}

export async function throughput(backend: Backend) {
  progress(
    `throughput on ${backend}: ${N} echo runs, ${CLIENTS} clients, WORKER_CONCURRENCY=${WORKER_CONCURRENCY}`,
  );
  const ours = await ourServer(backend);
  const bare = await bareBaseline(backend);
  try {
    await bare.run(WARMUP);
    await ours.run(WARMUP);
    const rounds: Array<{ baseline: Round; ours: Round }> = [];
    for (let i = 0; i < ROUNDS; i++) rounds.push({ baseline: await bare.run(N), ours: await ours.run(N) });
    const best = (side: 'baseline' | 'ours') =>
      rounds.map((r) => r[side]).reduce((a, b) => (b.jobs_per_s > a.jobs_per_s ? b : a));
    const ratio = best('ours').jobs_per_s / best('baseline').jobs_per_s;
    const statements = await ours.statements();
    return {
      backend,
      executions: N,
      clients: CLIENTS,
      worker_concurrency: WORKER_CONCURRENCY,
      request:
        'POST /api/tasks (API key, X-Claw-Id) {title, prompt, agent_type: echo, context.echo {steps: 0, delay_ms: 0}}',
      ours_is: 'one server process, role all (api + worker), as npm start runs it',
      baseline_is:
        'bare BullMQ Queue.add from the bench process + a Worker process with a no-op processor; attempts, ' +
        'backoff, removeOnComplete/Fail and lock settings as ours; no job priority (ours sets its queue rank)',
      ours: best('ours'),
      baseline: best('baseline'),
      rounds,
      ratio,
      target_ratio: TARGETS[backend],
      meets_target: ratio >= TARGETS[backend],
      ...(statements ? { diagnostic_sql_statements: statements } : {}),
    };
  } finally {
    await bare.close();
    await ours.close();
  }
}

export function throughputSummary(r: Awaited<ReturnType<typeof throughput>>): string {
  const verdict = r.meets_target ? 'PASS' : 'MISS';
  return (
    `  throughput, submit → COMPLETED on ${r.backend} (${r.executions} echo runs, ${r.clients} clients, ` +
    `WORKER_CONCURRENCY=${r.worker_concurrency}): ours ${r.ours.jobs_per_s.toFixed(0)} jobs/s vs bare BullMQ ` +
    `${r.baseline.jobs_per_s.toFixed(0)} jobs/s = ${(r.ratio * 100).toFixed(1)} % — ${verdict} (≥ ${r.target_ratio * 100} %); ` +
    `CPU per job: our server ${r.ours.process_cpu_ms_per_job.toFixed(1)} ms, bare worker ${r.baseline.process_cpu_ms_per_job.toFixed(2)} ms`
  );
}
