// npm run bench: measures in one run, on this machine, against baselines of the same run.
//  1. The polls both CoderClaw adapters send, exactly as they send them (headers included), throughput
//     and p99 at 32 connections vs a bare Fastify route with the same JSON: the session contract's
//     GET /api/runtime/tasks/:id/state with no session id (local install; a paired device's
//     `/k/<secret>` base URL; no key at all, the task id standing for its session) and 2026.3's
//     GET /api/runtime/executions/:id with an API key.
//  2. submit → first RUNNING latency (p50/p99) for `echo` on each queue backend: the first notice
//     past PLANNING (a run that ends at once records RUNNING with its end).
//  3. GitHub webhook acknowledgement (signed issue_comment deliveries, as GitHub sends them):
//     p50/p99 vs a bare Fastify route that parses the same body.
//  4. Issue 16, scale and faults: submit → COMPLETED throughput vs bare BullMQ on each backend
//     (throughput.ts); 10,000 queued and 200 running: poll p99, memory per run, drain time
//     (backlog.ts); submit throughput with the audit hash chain on and off (audit-cost.ts);
//     GET /metrics over a million runs against the whole-table statements it used to send
//     (metrics-scrape.ts).
// BENCH_ONLY=polls,latency,webhooks,throughput,backlog,audit,metrics (any of them; `runtimes` and `cli` name the
// other two bench scripts, scripts/run.mjs) runs those alone.
// Figures go to bench/results/*.json; a summary is printed.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { CHANNELS } from '@ccl/core';
import { createNotifier } from '@ccl/queue';
import { createTestDatabase, webhookHeaders } from '@ccl/testing';
import autocannon from 'autocannon';
import { readJson, startTestServer } from '../apps/server/src/test-support/test-server.ts';
import { auditCost, auditCostSummary } from './audit-cost.ts';
import { backlog, backlogSummary } from './backlog.ts';
import { metricsScrape, metricsScrapeSummary } from './metrics-scrape.ts';
import { ADAPTER_HEADERS, loadFigures, pct, post, resultsDir, spawnServer, stopChild } from './support.ts';
import { throughput, throughputSummary } from './throughput.ts';

const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const LATENCY_SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);

const CONNECTIONS = 32;
const TARGET_RATIO = 0.4;
const TARGET_P99_MS = 10;
const ROUNDS = 2;
type Load = Awaited<ReturnType<typeof load>>;

async function load(url: string, headers: Record<string, string>) {
  const result = await autocannon({
    url,
    headers,
    connections: CONNECTIONS,
    pipelining: 1,
    duration: DURATION_S,
  });
  return loadFigures(result);
}

/**
 * One poll as an adapter sends it, against our server and against a bare Fastify route answering
 * the same JSON (bench/bare-server.ts), each warmed up first, in this run.
 */
async function comparePoll(base: string, path: string, headers: Record<string, string>) {
  // The bare route answers the API path; a `/k/<secret>` base URL's prefix is ours alone.
  const barePath = path.replace(/^\/k\/[^/]+/, '');
  const answer = await fetch(`${base}${path}`, { headers });
  const body = await answer.text();
  if (answer.status !== 200) throw new Error(`GET ${path} answered ${answer.status}: ${body}`);
  const bare = await spawnServer('bare-server.ts', [body]);
  try {
    const bareUrl = `http://127.0.0.1:${bare.port}${barePath}`;
    await load(bareUrl, headers); // warm-ups
    await load(`${base}${path}`, headers);
    // Alternated, and the better of two rounds kept on each side: on a shared machine a burst of
    // other work hits one measurement, rarely both of one side.
    const rounds: Array<{ baseline: Load; ours: Load }> = [];
    for (let i = 0; i < ROUNDS; i++) {
      rounds.push({ baseline: await load(bareUrl, headers), ours: await load(`${base}${path}`, headers) });
    }
    const best = (side: 'baseline' | 'ours') =>
      rounds.map((r) => r[side]).reduce((a, b) => (b.requests_per_s > a.requests_per_s ? b : a));
    const baseline = best('baseline');
    const ours = best('ours');
    const ratio = ours.requests_per_s / baseline.requests_per_s;
    return {
      request: {
        method: 'GET',
        path: barePath,
        key_in_path: barePath !== path,
        headers: Object.keys(headers),
      },
      connections: CONNECTIONS,
      baseline,
      ours,
      rounds,
      ratio,
      target_ratio: TARGET_RATIO,
      target_p99_ms: TARGET_P99_MS,
      meets_targets: ratio >= TARGET_RATIO && ours.latency_p99_ms < TARGET_P99_MS && ours.non_2xx === 0,
    };
  } finally {
    await stopChild(bare.child);
  }
}

/**
 * The polls CoderClaw really sends, each once a second per task: the session contract's adapter
 * polls `GET /api/runtime/tasks/{task_id}/state` with no session id and no credential; the 2026.3
 * adapter polls `GET /api/runtime/executions/{id}` with its API key and claw id.
 */
async function stateReads() {
  const db = await createTestDatabase();
  const teamDb = await createTestDatabase();
  const local = await spawnServer('full-server.ts', [db.url]);
  const team = await spawnServer('full-server.ts', [teamDb.url, '--team']);
  try {
    // The session contract on a local install: CoderClaw on this machine, base URL without a key.
    const localBase = `http://127.0.0.1:${local.port}`;
    const session = await post(`${localBase}/api/runtime/sessions`, ADAPTER_HEADERS);
    const localTask = await post(`${localBase}/api/runtime/tasks/submit`, ADAPTER_HEADERS, {
      agent_type: 'echo',
      prompt: 'bench',
      context: {},
      session_id: session.session_id,
    });
    const oldLocal = await comparePoll(
      localBase,
      `/api/runtime/tasks/${localTask.task_id}/state`,
      ADAPTER_HEADERS,
    );

    // AUTH_MODE team, where the loopback rule does not apply: an adapter paired as a device (its
    // base URL carries the device's secret, `/k/<secret>`) opens a session and submits.
    const teamBase = `http://127.0.0.1:${team.port}`;
    const { key, secret } = team;
    const device = `${teamBase}/k/${secret}`;
    const paired = await post(
      `${device}/api/runtime/sessions?user_id=bench&device_id=laptop`,
      ADAPTER_HEADERS,
    );
    const teamTask = await post(`${device}/api/runtime/tasks/submit`, ADAPTER_HEADERS, {
      agent_type: 'echo',
      prompt: 'bench',
      context: {},
      session_id: paired.session_id,
    });
    // What that paired adapter sends: its base URL, with the secret, is the prefix of every call.
    const oldDevice = await comparePoll(
      teamBase,
      `/k/${secret}/api/runtime/tasks/${teamTask.task_id}/state`,
      ADAPTER_HEADERS,
    );
    // The same poll with no key at all: the task id stands for the session that submitted it.
    const oldTaskId = await comparePoll(
      teamBase,
      `/api/runtime/tasks/${teamTask.task_id}/state`,
      ADAPTER_HEADERS,
    );

    // CoderClaw 2026.3: a card, a run of it, and the run's poll, with the adapter's API key and claw id.
    const keyed = { ...ADAPTER_HEADERS, authorization: `Bearer ${key}`, 'x-claw-id': '1' };
    const card = await post(`${teamBase}/api/tasks`, keyed, { title: 'bench', agent_type: 'echo' });
    const run = await post(`${teamBase}/api/runtime/executions`, keyed, {
      taskId: card.number,
      payload: 'bench',
    });
    const newAdapter = await comparePoll(teamBase, `/api/runtime/executions/${run.id}`, keyed);
    return {
      old_adapter_local: oldLocal,
      old_adapter_paired_device: oldDevice,
      old_adapter_task_id: oldTaskId,
      new_adapter: newAdapter,
    };
  } finally {
    await stopChild(local.child);
    await stopChild(team.child);
    await db.drop();
    await teamDb.drop();
  }
}

/** The states a run is in once it has run (a notice in one of them is its first sign of running). */
const PAST_PLANNING = new Set(['RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELLED']);

async function submitToRunning(backend: 'redis' | 'postgres') {
  const server = await startTestServer({ backend });
  const notifier = createNotifier(server.databaseUrl);
  const waiting = new Map<string, (t: number) => void>();
  const pendingRunning = new Map<string, number>();
  await notifier.subscribe(CHANNELS.execution, (payload) => {
    const change = JSON.parse(payload) as { executionId: string; state: string };
    // A run that ends within 50 ms of starting records RUNNING with its end (run-execution.ts
    // ensureRunning): its first notice past PLANNING is the one that tells a watcher it ran.
    if (!PAST_PLANNING.has(change.state)) return;
    const now = performance.now();
    const resolve = waiting.get(change.executionId);
    if (resolve) resolve(now);
    else if (!pendingRunning.has(change.executionId)) pendingRunning.set(change.executionId, now);
  });
  try {
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    const session = await readJson(
      await fetch(`${server.url}/api/runtime/sessions`, { method: 'POST', headers }),
    );
    const samples: number[] = [];
    for (let i = 0; i < LATENCY_SAMPLES + 10; i++) {
      const started = performance.now();
      const res = await fetch(`${server.url}/api/runtime/tasks/submit`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          agent_type: 'echo',
          prompt: `bench ${i}`,
          context: { echo: { steps: 0, delay_ms: 0 } },
          session_id: session.session_id,
        }),
      });
      const { execution_uuid } = await readJson(res);
      const at =
        pendingRunning.get(execution_uuid) ??
        (await new Promise<number>((resolve, reject) => {
          // A notice that never comes fails the scenario rather than hanging the bench.
          const late = setTimeout(
            () => reject(new Error(`no notice of run ${execution_uuid} past PLANNING within 10 s`)),
            10_000,
          );
          waiting.set(execution_uuid, (at) => {
            clearTimeout(late);
            resolve(at);
          });
        }));
      waiting.delete(execution_uuid);
      if (i >= 10) samples.push(at - started); // the first ten warm the pools up
    }
    samples.sort((a, b) => a - b);
    return {
      samples: samples.length,
      p50_ms: pct(samples, 50),
      p99_ms: pct(samples, 99),
      target_p50_ms: backend === 'redis' ? 50 : 150,
    };
  } finally {
    await notifier.close();
    await server.stop();
  }
}

/** An issue_comment delivery the size GitHub sends (the repository and user objects are most of it). */
function issueCommentDelivery(i: number): string {
  const user = {
    login: 'octocat',
    id: 1,
    type: 'User',
    site_admin: false,
    url: 'https://api.github.com/users/octocat',
  };
  const repository = {
    id: 1296269,
    full_name: 'bench/unlinked',
    name: 'unlinked',
    owner: user,
    private: false,
    description: 'x'.repeat(400),
    default_branch: 'main',
    ...Object.fromEntries(
      Array.from({ length: 40 }, (_, k) => [`url_${k}`, `https://api.github.com/repos/bench/unlinked/${k}`]),
    ),
  };
  return JSON.stringify({
    action: 'created',
    issue: { number: i, title: `Issue ${i}`, body: 'y'.repeat(2000), user, labels: [], state: 'open' },
    comment: { id: 10_000 + i, body: 'Looks good to me', user, created_at: new Date().toISOString() },
    repository,
    sender: user,
  });
}

async function postDeliveries(url: string, secret: string) {
  const samples: number[] = [];
  for (let i = 0; i < LATENCY_SAMPLES + 10; i++) {
    const body = issueCommentDelivery(i);
    const headers = webhookHeaders('issue_comment', `bench-${randomBytes(8).toString('hex')}`, secret, body);
    const started = performance.now();
    const res = await fetch(url, { method: 'POST', headers, body });
    await res.arrayBuffer();
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
    if (i >= 10) samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { samples: samples.length, p50_ms: pct(samples, 50), p99_ms: pct(samples, 99) };
}

async function webhookAcks() {
  const secret = randomBytes(16).toString('hex');
  const server = await startTestServer({ backend: 'postgres', env: { GITHUB_WEBHOOK_SECRET: secret } });
  const bare = await spawnServer('bare-server.ts', ['{}']);
  try {
    const ours = await postDeliveries(`${server.url}/api/github/webhook`, secret);
    const baseline = await postDeliveries(`http://127.0.0.1:${bare.port}/api/github/webhook`, secret);
    return { ours, baseline, ratio_p50: ours.p50_ms / baseline.p50_ms, target_p50_ms: 50 };
  } finally {
    await stopChild(bare.child);
    await server.stop();
  }
}

await mkdir(resultsDir, { recursive: true });
const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(2).toString('hex')}`;
const SCENARIOS = ['polls', 'latency', 'webhooks', 'throughput', 'backlog', 'audit', 'metrics'];
// BENCH_ONLY=polls (or a list) measures those alone, for a quick look; the figures file says so.
const only = process.env.BENCH_ONLY?.split(',')
  .map((s) => s.trim())
  .filter(Boolean);
// `runtimes` and `cli` are bench/runtimes.ts's and bench/cli-start.ts's (scripts/run.mjs picks them).
const unknown =
  only?.filter((name) => !SCENARIOS.includes(name) && name !== 'runtimes' && name !== 'cli') ?? [];
if (unknown.length)
  throw new Error(
    `BENCH_ONLY: unknown ${unknown.join(', ')} (known: ${[...SCENARIOS, 'runtimes', 'cli'].join(', ')})`,
  );
const wants = (name: string) => !only || only.includes(name);
const reads = wants('polls') ? await stateReads() : null;
const latency = wants('latency')
  ? { redis: await submitToRunning('redis'), postgres: await submitToRunning('postgres') }
  : null;
const webhooks = wants('webhooks') ? await webhookAcks() : null;
const rates = wants('throughput')
  ? { redis: await throughput('redis'), postgres: await throughput('postgres') }
  : null;
const queued = wants('backlog') ? await backlog() : null;
const audit = wants('audit') ? await auditCost() : null;
const scrape = wants('metrics') ? await metricsScrape() : null;
const results = {
  run: runId,
  node: process.version,
  duration_s: DURATION_S,
  only: only ?? null,
  // Two cores shared with whatever else runs: read the figures against this.
  load_average: loadavg(),
  state_reads: reads,
  submit_to_running: latency,
  github_webhook_ack: webhooks,
  throughput: rates,
  backlog: queued,
  audit_chain: audit,
  metrics_scrape: scrape,
};
await writeFile(join(resultsDir, `core-${runId}.json`), `${JSON.stringify(results, null, 2)}\n`);
if (!only) await writeFile(join(resultsDir, 'core-latest.json'), `${JSON.stringify(results, null, 2)}\n`);

const ok = (cond: boolean) => (cond ? 'meets target' : 'MISSES target');
console.log(`\nCoderClawLink core benchmark (${runId}, load average ${loadavg()[0]?.toFixed(2)})`);
if (reads) {
  const polls = [
    ['old adapter, local install (no session_id, no credential)', reads.old_adapter_local],
    ['old adapter, paired device (team mode, /k/<secret> base URL)', reads.old_adapter_paired_device],
    ['old adapter, task id standing for its session (team mode, no key)', reads.old_adapter_task_id],
    ['new adapter, GET /api/runtime/executions/{id} with API key', reads.new_adapter],
  ] as const;
  for (const [name, r] of polls) {
    console.log(
      `  ${name}: ${r.ours.requests_per_s.toFixed(0)} req/s (p99 ${r.ours.latency_p99_ms} ms${r.ours.non_2xx ? `, ${r.ours.non_2xx} non-2xx` : ''}) vs bare Fastify ${r.baseline.requests_per_s.toFixed(0)} req/s (p99 ${r.baseline.latency_p99_ms} ms) = ${(r.ratio * 100).toFixed(1)} % — ${ok(r.meets_targets)} (≥ ${TARGET_RATIO * 100} %, p99 < ${TARGET_P99_MS} ms at ${CONNECTIONS} connections)`,
    );
  }
}
if (latency) {
  for (const backend of ['redis', 'postgres'] as const) {
    const l = latency[backend];
    console.log(
      `  submit → RUNNING on ${backend}: p50 ${l.p50_ms.toFixed(1)} ms, p99 ${l.p99_ms.toFixed(1)} ms over ${l.samples} — ${ok(l.p50_ms < l.target_p50_ms)} (p50 < ${l.target_p50_ms} ms)`,
    );
  }
}
if (webhooks) {
  console.log(
    `  GitHub webhook ack: p50 ${webhooks.ours.p50_ms.toFixed(1)} ms, p99 ${webhooks.ours.p99_ms.toFixed(1)} ms vs bare Fastify p50 ${webhooks.baseline.p50_ms.toFixed(1)} ms (${webhooks.ratio_p50.toFixed(1)}×) over ${webhooks.ours.samples} — ${ok(webhooks.ours.p50_ms < webhooks.target_p50_ms)} (p50 < 50 ms)`,
  );
}
if (rates) for (const r of [rates.redis, rates.postgres]) console.log(throughputSummary(r));
if (queued) console.log(backlogSummary(queued));
if (audit) console.log(auditCostSummary(audit));
if (scrape) console.log(metricsScrapeSummary(scrape));
console.log(`  figures: bench/results/core-${runId}.json\n`);
process.exit(0);
