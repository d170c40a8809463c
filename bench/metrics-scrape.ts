// GET /metrics on a deployment with a long history: RUNS finished runs (and 4 audit rows each, as
// a run writes) plus 200 running, scraped as Prometheus does (loopback, Accept of its text format)
// from our server process, SCRAPES times. The first scrape sums the history once; the others add
// what ended since. The baseline, in the same run on the same rows: the statements a scrape sent
// before (every run grouped by state and agent, tokens and cost summed over every run, the
// reconciler's audit rows counted), timed on their own.
import { ensureBuiltins } from '@ccl/core';
import { createTestDatabase } from '@ccl/testing';
import { Prisma } from '../packages/db/src/generated/client.ts';
import { createPrisma } from '../packages/db/src/prisma.ts';
import { pct, progress, spawnServer, stopChild } from './support.ts';

const RUNS = Number(process.env.BENCH_METRICS_RUNS ?? 1_000_000);
const SCRAPES = 20;
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1';

/** The statements one scrape sent before run totals were kept (metrics.ts until 2026-12-07). */
const FORMER = [
  Prisma.sql`SELECT state, agent_type, count(*) FROM executions GROUP BY state, agent_type`,
  Prisma.sql`
    SELECT e.agent_type AS agent, p.slug AS project,
           COALESCE(SUM((e.usage->>'input_tokens')::float8), 0) AS input,
           COALESCE(SUM((e.usage->>'output_tokens')::float8), 0) AS output,
           COALESCE(SUM((e.usage->>'cost_usd')::float8), 0) AS cost
    FROM executions e JOIN tasks t ON t.id = e.task_id JOIN projects p ON p.id = t.project_id
    WHERE e.usage IS NOT NULL
    GROUP BY e.agent_type, p.slug`,
  Prisma.sql`SELECT count(*) FROM audit_events WHERE request_id = 'reconciler' AND outcome = 'ALLOWED'`,
];

export async function metricsScrape() {
  progress(`metrics: seeding ${RUNS} finished runs and ${RUNS * 4} audit rows`);
  const db = await createTestDatabase();
  const prisma = createPrisma(db.url, { max: 2 });
  try {
    await ensureBuiltins(prisma);
    await prisma.$executeRaw`INSERT INTO users (id, role_name) VALUES ('bench', 'DEVELOPER')`;
    await prisma.$executeRaw`
      INSERT INTO projects (id, slug, name) SELECT gen_random_uuid(), 'p' || i, 'p' || i FROM generate_series(1, 20) i`;
    await prisma.$executeRaw`
      INSERT INTO tasks (id, project_id, title, creator_id, updated_at)
      SELECT gen_random_uuid(), p.id, 'card', 'bench', now() FROM projects p, generate_series(1, 50)`;
    // Runs ended over the last 30 days, each with usage, spread over the cards; 200 still running.
    await prisma.$executeRaw`
      INSERT INTO executions (id, task_id, requested_agent, agent_type, prompt, state, usage, user_id,
                              created_at, started_at, finished_at, updated_at)
      SELECT gen_random_uuid(), t.ids[1 + i % array_length(t.ids, 1)], 'claude', 'claude', 'p',
             (ARRAY['COMPLETED', 'COMPLETED', 'FAILED', 'CANCELLED'])[1 + i % 4]::"ExecutionState",
             jsonb_build_object('input_tokens', 1000, 'output_tokens', 200, 'cost_usd', 0.01),
             'bench', at, at, at + interval '1 minute', at + interval '1 minute'
      FROM (SELECT array_agg(id) AS ids FROM tasks) t,
           generate_series(1, ${RUNS}) i,
           LATERAL (SELECT (now() AT TIME ZONE 'UTC') - interval '30 days' * random() - interval '10 minutes' AS at) a`;
    await prisma.$executeRaw`
      INSERT INTO executions (id, task_id, requested_agent, agent_type, prompt, state, user_id, started_at, updated_at)
      SELECT gen_random_uuid(), (SELECT id FROM tasks LIMIT 1), 'claude', 'claude', 'p', 'RUNNING', 'bench', now(), now()
      FROM generate_series(1, 200)`;
    // Audit rows as runs write them (a quarter of a percent the reconciler's), outside the chain:
    // the triggers that keep the table append-only refuse rows without a hash, so they are off
    // for the seeding only (session_replication_role), as a restore from a dump would do.
    await prisma.$transaction(
      async (tx) => {
        await tx.$executeRaw`SET LOCAL session_replication_role = replica`;
        await tx.$executeRaw`
        INSERT INTO audit_events (seq, at, action, resource_type, outcome, request_id, detail, hash)
        SELECT i, now() AT TIME ZONE 'UTC', 'execution.transition', 'execution', 'ALLOWED',
               CASE WHEN i % 400 = 0 THEN 'reconciler' ELSE 'job-' || i END, '{}', md5(i::text)
        FROM generate_series(1, ${RUNS * 4}) i`;
        await tx.$executeRaw`UPDATE audit_chain_head SET seq = ${RUNS * 4}, hash = 'seeded' WHERE id = 1`;
      },
      { timeout: 600_000 },
    );
    await prisma.$executeRaw`ANALYZE`;

    const former: number[] = [];
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      for (const sql of FORMER) await prisma.$queryRaw(sql);
      former.push(performance.now() - started);
    }

    const server = await spawnServer('full-server.ts', [db.url]);
    const scrapes: number[] = [];
    let text = '';
    try {
      for (let i = 0; i < SCRAPES; i++) {
        const started = performance.now();
        const res = await fetch(`http://127.0.0.1:${server.port}/metrics`, {
          headers: { accept: PROMETHEUS_ACCEPT },
        });
        text = await res.text();
        if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
        scrapes.push(performance.now() - started);
        // Prometheus scrapes every 15 s by default; a second is past the snapshot's reuse.
        await new Promise((resolve) => setTimeout(resolve, 1_100));
      }
    } finally {
      await stopChild(server.child);
    }
    const counted = text
      .split('\n')
      .filter((l) => l.startsWith('clawlink_executions{'))
      .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
    if (counted !== RUNS + 200) throw new Error(`the scrape counted ${counted} runs of ${RUNS + 200}`);
    const later = scrapes.slice(1).sort((a, b) => a - b);
    const formerSorted = [...former].sort((a, b) => a - b);
    return {
      runs: RUNS + 200,
      audit_rows: RUNS * 4,
      request: 'GET /metrics from loopback, Accept as Prometheus sends it',
      first_scrape_ms: scrapes[0] ?? 0,
      later_scrapes_p50_ms: pct(later, 50),
      later_scrapes_max_ms: later.at(-1) ?? 0,
      former_statements_p50_ms: pct(formerSorted, 50),
      former_is: 'the three whole-table statements a scrape sent before, timed alone (no HTTP)',
      speedup_p50: pct(formerSorted, 50) / pct(later, 50),
    };
  } finally {
    await prisma.$disconnect();
    await db.drop();
  }
}

export function metricsScrapeSummary(r: Awaited<ReturnType<typeof metricsScrape>>): string {
  return (
    `  GET /metrics over ${r.runs} runs and ${r.audit_rows} audit rows: first scrape ${r.first_scrape_ms.toFixed(0)} ms, ` +
    `then p50 ${r.later_scrapes_p50_ms.toFixed(1)} ms (max ${r.later_scrapes_max_ms.toFixed(1)} ms); the former ` +
    `whole-table statements alone: p50 ${r.former_statements_p50_ms.toFixed(0)} ms (${r.speedup_p50.toFixed(0)}× the scrape)`
  );
}
