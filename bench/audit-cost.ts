// Issue 16, the audit chain's cost: POST /api/tasks answered per second (a card with a prompt, so an
// execution is created, audited, ranked and enqueued; no worker runs it) on two api servers alike
// but for the audit writer. Chain on: the product as it is. Chain off: the same server with the
// audit writer swapped for plain inserts (bench/plain-audit.ts; the product has no setting for it).
// Two loads, the same on both sides: every card into one project (as one CoderClaw instance
// submits), and the cards spread over PROJECTS projects, so that the per-project queue-rank lock
// (core admission.ts) does not order the submits and the chain head is the one lock they all share.
// Each at CONNECTIONS connections, chain on and off alternated, the better of two rounds kept.
import { createTestDatabase, testRedisUrl, uniquePrefix } from '@ccl/testing';
import autocannon from 'autocannon';
import { createPrisma } from '../packages/db/src/index.ts';
import { dropServerQueue } from './bare-bullmq.ts';
import { UNCHAINED } from './plain-audit.ts';
import {
  benchDir,
  cpuSeconds,
  diagnosticFlags,
  echoTask,
  keyedHeaders,
  loadFigures,
  progress,
  spawnServer,
  stopChild,
} from './support.ts';

const CONNECTIONS = 32;
const PROJECTS = 32;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const ROUNDS = 2;
const BACKEND = process.env.BENCH_AUDIT_BACKEND === 'postgres' ? 'postgres' : 'redis';

async function submitServer(chained: boolean) {
  const db = await createTestDatabase();
  const queueName = uniquePrefix('bench-audit');
  const redis = BACKEND === 'redis' ? testRedisUrl() : '';
  const node = [...diagnosticFlags(), ...(chained ? [] : ['--import', `${benchDir}plain-audit-hooks.mjs`])];
  const args = [db.url, redis, queueName, '--team', `--projects=${PROJECTS}`];
  const server = await spawnServer('full-server.ts', args, { node });
  const prisma = createPrisma(db.url, { max: 1 });
  return {
    pid: server.pid,
    url: `http://127.0.0.1:${server.port}/api/tasks`,
    headers: keyedHeaders(server.key ?? ''),
    /** What the audit table holds: every row chained (head at the last seq), or none. */
    async rows() {
      const [row] = await prisma.$queryRaw<Array<{ rows: bigint; unchained: bigint; head: bigint }>>`
        SELECT count(*) AS rows, count(*) FILTER (WHERE hash = ${UNCHAINED}) AS unchained,
               (SELECT seq FROM audit_chain_head WHERE id = 1) AS head
        FROM audit_events`;
      return {
        rows: Number(row?.rows),
        unchained: Number(row?.unchained),
        chain_head_seq: Number(row?.head),
      };
    },
    /** The server's transactions waiting for a lock right now, by the lock they wait for. */
    async lockWaiters() {
      return prisma.$queryRaw<Array<{ head: boolean }>>`
        SELECT query LIKE '%audit_chain_head%' AS head FROM pg_stat_activity
        WHERE datname = current_database() AND wait_event_type = 'Lock'`;
    },
    async close() {
      await stopChild(server.child);
      await prisma.$disconnect();
      if (redis) await dropServerQueue(redis, queueName);
      await db.drop();
    },
  };
}

type Server = Awaited<ReturnType<typeof submitServer>>;
type Load = Awaited<ReturnType<typeof submits>>;

/** `spread`: each card into the next of the bench projects in turn; otherwise all into the inbox. */
async function submits(server: Server, seconds: number, spread: boolean) {
  const cpu = cpuSeconds(server.pid);
  // Sampled ten times a second while the load runs: how many transactions queue on a lock, and
  // how many of them on the chain head.
  const waiting = { all: 0, head: 0, samples: 0 };
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const rows = await server.lockWaiters();
      waiting.all += rows.length;
      waiting.head += rows.filter((r) => r.head).length;
      waiting.samples += 1;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const card = echoTask('bench audit', { steps: 0, delay_ms: 0 });
  let next = 0;
  const result = await autocannon({
    url: server.url,
    method: 'POST',
    headers: server.headers,
    body: JSON.stringify(card),
    connections: CONNECTIONS,
    duration: seconds,
    ...(spread
      ? {
          requests: [
            {
              setupRequest: (request) => {
                next = (next % PROJECTS) + 1;
                return { ...request, body: JSON.stringify({ ...card, project: `bench-${next}` }) };
              },
            },
          ],
        }
      : {}),
  });
  sampling = false;
  await sampler;
  const mean = (n: number) => n / Math.max(1, waiting.samples);
  return {
    ...loadFigures(result),
    // Less sensitive than the rate to whatever else the machine runs.
    server_cpu_ms_per_submit: ((cpuSeconds(server.pid) - cpu) * 1000) / Math.max(1, result.requests.total),
    lock_waiters_mean: mean(waiting.all),
    chain_head_waiters_mean: mean(waiting.head),
  };
}

/** Chain on and off under one load, alternated; the better round of each side. */
async function compare(on: Server, off: Server, spread: boolean) {
  await submits(on, 3, spread); // warm-ups
  await submits(off, 3, spread);
  const rounds: Array<{ chain_on: Load; chain_off: Load }> = [];
  for (let i = 0; i < ROUNDS; i++) {
    rounds.push({
      chain_on: await submits(on, DURATION_S, spread),
      chain_off: await submits(off, DURATION_S, spread),
    });
  }
  const best = (side: 'chain_on' | 'chain_off') =>
    rounds.map((r) => r[side]).reduce((a, b) => (b.requests_per_s > a.requests_per_s ? b : a));
  return {
    chain_on: best('chain_on'),
    chain_off: best('chain_off'),
    ratio_on_to_off: best('chain_on').requests_per_s / best('chain_off').requests_per_s,
    rounds,
  };
}

export async function auditCost() {
  progress(`audit chain on/off: POST /api/tasks at ${CONNECTIONS} connections, ${BACKEND} queue`);
  const on = await submitServer(true);
  const off = await submitServer(false);
  try {
    const oneProject = await compare(on, off, false);
    const spread = await compare(on, off, true);
    const tables = { chain_on: await on.rows(), chain_off: await off.rows() };
    // The comparison means something only if the swap took effect on one side and not the other.
    if (tables.chain_on.unchained !== 0 || tables.chain_off.unchained !== tables.chain_off.rows) {
      throw new Error(`audit writers not as intended: ${JSON.stringify(tables)}`);
    }
    return {
      request:
        'POST /api/tasks (API key, X-Claw-Id) {title, prompt, agent_type: echo, context.echo}: 201, execution PENDING',
      queue_backend: BACKEND,
      connections: CONNECTIONS,
      chain_off_is:
        'the same server with writeAudit replaced (bench/plain-audit.ts): one INSERT per row, seq from the id ' +
        'sequence, no audit_chain_head lock, no HMACs, no head update',
      one_project: oneProject,
      spread_over_projects: { projects: PROJECTS, ...spread },
      audit_tables: tables,
    };
  } finally {
    await on.close();
    await off.close();
  }
}

export function auditCostSummary(r: Awaited<ReturnType<typeof auditCost>>): string {
  const side = (x: Load) =>
    `${x.requests_per_s.toFixed(0)} submits/s (p50 ${x.latency_p50_ms} ms, p99 ${x.latency_p99_ms} ms, ` +
    `server CPU ${x.server_cpu_ms_per_submit.toFixed(1)} ms/submit, ${x.lock_waiters_mean.toFixed(1)} waiting on a lock, ` +
    `${x.chain_head_waiters_mean.toFixed(1)} on the chain head${x.non_2xx ? `, ${x.non_2xx} non-2xx` : ''})`;
  const line = (name: string, c: typeof r.one_project) =>
    `    ${name}: chain on ${side(c.chain_on)} vs plain inserts ${side(c.chain_off)} = ${(c.ratio_on_to_off * 100).toFixed(1)} %`;
  return [
    `  audit chain cost, POST /api/tasks at ${r.connections} connections (${r.queue_backend} queue):`,
    line('one project', r.one_project),
    line(`spread over ${r.spread_over_projects.projects} projects`, r.spread_over_projects),
  ].join('\n');
}
