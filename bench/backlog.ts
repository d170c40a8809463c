// Issue 16, backlog: an api process and a worker process (WORKER_CONCURRENCY=200) on one database.
//  1. The worker's memory idle (after warm-up runs), then with 200 `echo` runs RUNNING (a step a second):
//     (RSS running − RSS idle) / 200, after a full collection in both cases.
//     The 200 and then 10,000 more are submitted with the queue paused, then it is resumed: the 200
//     rank first and take every slot, so the 10,000 stay PENDING in the queue.
//  2. The poll CoderClaw 2026.3 sends, GET /api/runtime/executions/{number} with its API key, at a
//     steady rate: POLL_RATE a second over all 10,200 runs in turn, then 200 a second over the
//     running ones (each once a second, as their adapters poll): p50/p99 (target p99 < 50 ms).
//  3. The 200 cancelled (POST /api/executions/:id/cancel): the time until all 10,000 are COMPLETED.

import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createTestDatabase, testRedisUrl, uniquePrefix } from '@ccl/testing';
import { createPrisma } from '../packages/db/src/index.ts';
import { dropServerQueue, serverQueue } from './bare-bullmq.ts';
import { watchExecutions } from './execution-watch.ts';
import type { PollAnswer, PollJob } from './poller.ts';
import {
  benchDir,
  cpuSeconds,
  diagnosticFlags,
  echoTask,
  inParallel,
  keyedHeaders,
  listenOverflows,
  pct,
  progress,
  rssBytes,
  type Spawned,
  spawnServer,
  stopChild,
  submitTask,
} from './support.ts';

const QUEUED = Number(process.env.BENCH_BACKLOG_QUEUED ?? 10_000);
const RUNNING = Number(process.env.BENCH_BACKLOG_RUNNING ?? 200);
const POLL_RATE = Number(process.env.BENCH_BACKLOG_POLL_RATE ?? 500);
const POLL_S = Number(process.env.BENCH_BACKLOG_POLL_S ?? 10);
const CLIENTS = 32;
const WARMUP = 40;
const TARGET_P99_MS = 50;
const BACKEND = process.env.BENCH_BACKLOG_BACKEND === 'postgres' ? 'postgres' : 'redis';
/**
 * Long enough to outlast the scenario: the 200 are cancelled when it is done with them. A step a
 * second each, give or take 20 ms by run, so that the runs' steps drift apart as real agents' do;
 * at exactly 1000 ms each, 200 runs admitted together stepped in lock-step for good, and every
 * second the machine took all 200 steps at once (the running runs' poll p99 136–210 ms then).
 */
const HELD = { steps: 10_000, delay_ms: 1000 };
const HELD_SPREAD_MS = 20;
const heldTask = (i: number) =>
  echoTask(`held ${i}`, {
    ...HELD,
    delay_ms: HELD.delay_ms - HELD_SPREAD_MS + (i % (2 * HELD_SPREAD_MS + 1)),
  });
const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;
/** Memory the process's objects hold after a full collection: its heap, and what JS holds outside it (`external` includes the buffers). */
const live = (m: NodeJS.MemoryUsage) => m.heapUsed + m.external;

/** The worker's memory after a full collection (full-server.ts answers over IPC). */
function memoryOf(worker: Spawned): Promise<NodeJS.MemoryUsage> {
  return new Promise((resolve) => {
    worker.child.once('message', (m) => resolve(m as NodeJS.MemoryUsage));
    worker.child.send('memory');
  });
}

/** A few readings a second apart, the median kept: one reading can catch a burst. */
async function steadyMemory(worker: Spawned) {
  const readings: NodeJS.MemoryUsage[] = [];
  for (let i = 0; i < 5; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    readings.push(await memoryOf(worker));
  }
  readings.sort((a, b) => a.rss - b.rss);
  return readings[2] as NodeJS.MemoryUsage;
}

/**
 * The adapter's poll (bench/poller.ts, in its own process): `rate` a second for POLL_S seconds over
 * `numbers` in turn, with the api's CPU and pauses over the same time.
 */
async function polls(api: Spawned, headers: Record<string, string>, numbers: number[], rate: number) {
  const total = rate * POLL_S;
  const client = await poller({
    base: `http://127.0.0.1:${api.port}/api/runtime/executions/`,
    headers,
    numbers,
    rate,
    seconds: POLL_S,
  });
  const cpu = cpuSeconds(api.pid);
  const apiBefore = await apiPauses(api);
  const overflowsBefore = listenOverflows();
  const answer = await client.go();
  const overflows = listenOverflows() - overflowsBefore;
  const { latencies } = answer;
  const apiAfter = await apiPauses(api);
  latencies.sort((x, y) => x - y);
  const p99 = pct(latencies, 99);
  return {
    runs_polled: numbers.length,
    rate_asked_per_s: rate,
    requests_per_s: total / answer.sending_s,
    latency_p50_ms: pct(latencies, 50),
    latency_p99_ms: p99,
    latency_max_ms: latencies.at(-1) ?? 0,
    non_2xx: answer.non_2xx,
    errors: answer.errors,
    api_cpu_ms_per_poll: ((cpuSeconds(api.pid) - cpu) * 1000) / total,
    pauses: {
      client_loop_delay_p99_ms: answer.loop_delay_p99_ms,
      client_loop_delay_max_ms: answer.loop_delay_max_ms,
      api_loop_lag_p99_ms: apiAfter.lagP99Ms,
      api_loop_lag_max_ms: apiAfter.lagMaxMs,
      /** Connections turned away by a full accept queue meanwhile (the poller's, on this machine). */
      listen_overflows: overflows,
      api_gc_ms: Object.fromEntries(
        Object.entries(apiAfter.gcMs).map(([kind, ms]) => [kind, ms - (apiBefore.gcMs[kind] ?? 0)]),
      ),
    },
    meets_target: p99 < TARGET_P99_MS && answer.non_2xx === 0 && answer.errors === 0,
  };
}

/**
 * A poller process of its own, started and given `job`; `go()` starts its polls (so that its start
 * is not in the measured time) and resolves with its answer.
 */
async function poller(job: PollJob): Promise<{ go(): Promise<PollAnswer> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(benchDir, 'poller.ts')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`the poller exited with ${code}`)));
  });
  child.stdin.write(`${JSON.stringify(job)}\n`);
  await Promise.race([lines.next(), exited]);
  return {
    async go() {
      child.stdin.end('go\n');
      const answer = await Promise.race([lines.next(), exited]);
      return JSON.parse(String(answer.value)) as PollAnswer;
    },
  };
}

/**
 * The api's pauses from its own /metrics (prom-client's defaults, loopback): garbage collection time
 * by kind so far, and its event loop's lag since the previous read (prom-client resets it on each).
 */
async function apiPauses(api: Spawned) {
  const text = await (await fetch(`http://127.0.0.1:${api.port}/metrics`)).text();
  const gauge = (name: string) => Number(text.match(new RegExp(`^${name} (\\S+)$`, 'm'))?.[1] ?? 0) * 1000;
  const gcMs: Record<string, number> = {};
  for (const m of text.matchAll(/^nodejs_gc_duration_seconds_sum\{kind="(\w+)"\} (\S+)$/gm)) {
    gcMs[m[1] as string] = Number(m[2]) * 1000;
  }
  return {
    gcMs,
    lagP99Ms: gauge('nodejs_eventloop_lag_p99_seconds'),
    lagMaxMs: gauge('nodejs_eventloop_lag_max_seconds'),
  };
}

export async function backlog() {
  progress(`backlog: ${QUEUED} queued, ${RUNNING} running, one worker (${BACKEND} queue)`);
  const db = await createTestDatabase();
  const prisma = createPrisma(db.url, { max: 2 });
  const workspaces = await mkdtemp(join(tmpdir(), 'ccl-bench-backlog-'));
  const queueName = uniquePrefix('bench-backlog');
  const redis = BACKEND === 'redis' ? testRedisUrl() : '';
  const api = await spawnServer('full-server.ts', [db.url, redis, queueName, '--team'], {
    node: diagnosticFlags(),
  });
  const worker = await spawnServer(
    'full-server.ts',
    [
      db.url,
      redis,
      queueName,
      '--role=worker',
      `WORKER_CONCURRENCY=${RUNNING}`,
      `WORKSPACES_DIR=${workspaces}`,
    ],
    { node: ['--expose-gc', ...diagnosticFlags()], ipc: true },
  );
  const watch = await watchExecutions(db.url);
  const base = `http://127.0.0.1:${api.port}`;
  const headers = keyedHeaders(api.key ?? '');
  const count = (state: 'PENDING' | 'RUNNING') => prisma.execution.count({ where: { state } });
  const control = serverQueue(BACKEND, redis || db.url, queueName);
  const numbers = (runs: Array<{ number: number }>) => runs.map((e) => e.number);
  try {
    // Idle, but warm: a few runs first, so code loaded and compiled on a first run counts in both readings.
    const warm = await inParallel(WARMUP, CLIENTS, (i) =>
      submitTask(base, headers, echoTask(`warm-up ${i}`, { steps: 0, delay_ms: 0 })),
    );
    await watch.until(() => watch.count('COMPLETED') >= WARMUP, 60_000);
    const idle = await steadyMemory(worker);
    // The same poll with nothing queued or running, now, on this machine: the floor to read the others against.
    const pollIdle = await polls(api, headers, numbers(warm), RUNNING);

    // Submitted while the worker takes nothing (the queue paused, as a stopped worker would leave
    // it), the held runs first: they rank first, so once resumed the worker's 200 slots go to them.
    await control.queue.pause();
    progress(`${RUNNING} held runs, then ${QUEUED} queued runs`);
    const held = await inParallel(RUNNING, CLIENTS, (i) => submitTask(base, headers, heldTask(i)));
    const submitStarted = performance.now();
    const queued = await inParallel(QUEUED, CLIENTS, (i) =>
      submitTask(base, headers, echoTask(`queued ${i}`, { steps: 0, delay_ms: 0 })),
    );
    const submitSeconds = (performance.now() - submitStarted) / 1000;
    await control.queue.resume();
    await watch.until(() => watch.count('RUNNING') >= RUNNING, 60_000);
    const running = await steadyMemory(worker);
    const states = { pending: await count('PENDING'), running: await count('RUNNING') };
    if (states.pending !== QUEUED || states.running !== RUNNING) {
      throw new Error(`expected ${QUEUED} PENDING and ${RUNNING} RUNNING, found ${JSON.stringify(states)}`);
    }

    progress(`polls: every run at ${POLL_RATE}/s, then the running ones at ${RUNNING}/s, ${POLL_S} s each`);
    const pollAll = await polls(api, headers, numbers([...held, ...queued]), POLL_RATE);
    // Each running run polled once a second, as its adapter does; each has changed since its last poll.
    const pollRunning = await polls(api, headers, numbers(held), RUNNING);

    progress(`drain of ${QUEUED}`);
    let peakRss = rssBytes(worker.pid);
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, rssBytes(worker.pid));
    }, 1000);
    const drainStarted = performance.now();
    await inParallel(RUNNING, CLIENTS, async (i) => {
      const res = await fetch(`${base}/api/executions/${held[i]?.id}/cancel`, { method: 'POST', headers });
      if (!res.ok) throw new Error(`cancel answered ${res.status}: ${await res.text()}`);
    });
    const drained = await watch
      .until(() => watch.count('COMPLETED') >= WARMUP + QUEUED, 60_000)
      .finally(() => {
        clearInterval(sampler);
      });
    const drainSeconds = (drained - drainStarted) / 1000;

    return {
      queue_backend: BACKEND,
      worker_concurrency: RUNNING,
      queued: QUEUED,
      held_run: `echo ${HELD.steps} steps × ${HELD.delay_ms} ± ${HELD_SPREAD_MS} ms by run (one progress event a second each), cancelled to drain`,
      memory: {
        idle_rss_mb: mb(idle.rss),
        running_rss_mb: mb(running.rss),
        rss_per_running_execution_kb: Math.round((running.rss - idle.rss) / RUNNING / 1024),
        heap_per_running_execution_kb: Math.round((running.heapUsed - idle.heapUsed) / RUNNING / 1024),
        // What the runs keep alive: the JS heap, and the memory outside it that JS objects hold
        // (buffers, sockets' native state). RSS also counts pages freed but not yet returned (the
        // warm-up's, often more than 200 runs hold), so its difference can even come out negative.
        live_per_running_execution_kb: Math.round((live(running) - live(idle)) / RUNNING / 1024),
        measured: `worker process after ${WARMUP} warm-up runs, after a full collection, median of 5 readings a second apart`,
      },
      submit: { executions: QUEUED, seconds: submitSeconds, per_s: QUEUED / submitSeconds, clients: CLIENTS },
      polls: {
        request:
          'GET /api/runtime/executions/{number} (API key, X-Claw-Id), run after run in turn, open loop',
        target_p99_ms: TARGET_P99_MS,
        meets_target: pollAll.meets_target && pollRunning.meets_target,
        every_run: pollAll,
        running_runs: pollRunning,
        reference_nothing_queued: pollIdle,
      },
      drain: {
        seconds: drainSeconds,
        per_s: QUEUED / drainSeconds,
        from: `the cancels of the ${RUNNING} held runs being sent`,
        peak_worker_rss_mb: mb(peakRss),
      },
    };
  } finally {
    await watch.close();
    await control.queue.close();
    await stopChild(worker.child);
    await stopChild(api.child);
    await prisma.$disconnect();
    if (redis) await dropServerQueue(redis, queueName);
    await db.drop();
    await rm(workspaces, { recursive: true, force: true });
  }
}

export function backlogSummary(r: Awaited<ReturnType<typeof backlog>>): string {
  const poll = (name: string, p: typeof r.polls.every_run) =>
    `    poll of ${name}: p99 ${p.latency_p99_ms.toFixed(1)} ms, p50 ${p.latency_p50_ms.toFixed(1)} ms at ` +
    `${p.requests_per_s.toFixed(0)} req/s (api CPU ${p.api_cpu_ms_per_poll.toFixed(2)} ms/poll` +
    `${p.non_2xx ? `, ${p.non_2xx} non-2xx` : ''}) — ${p.meets_target ? 'PASS' : 'MISS'} (p99 < ${r.polls.target_p99_ms} ms)\n` +
    `      pauses: api loop lag p99 ${p.pauses.api_loop_lag_p99_ms.toFixed(1)} ms (max ${p.pauses.api_loop_lag_max_ms.toFixed(0)}), ` +
    `api GC ${Object.values(p.pauses.api_gc_ms)
      .reduce((a, b) => a + b, 0)
      .toFixed(0)} ms in all, ` +
    `poller loop delay p99 ${p.pauses.client_loop_delay_p99_ms.toFixed(1)} ms (max ${p.pauses.client_loop_delay_max_ms.toFixed(0)}), ` +
    `${p.pauses.listen_overflows} connections turned away by a full accept queue`;
  return [
    `  backlog (${r.queued} queued, ${r.worker_concurrency} running, ${r.queue_backend} queue):`,
    poll(`every run (${r.polls.every_run.runs_polled})`, r.polls.every_run),
    poll(`the ${r.worker_concurrency} running`, r.polls.running_runs),
    poll(
      `${r.polls.reference_nothing_queued.runs_polled} finished runs, nothing queued (reference)`,
      r.polls.reference_nothing_queued,
    ),
    `    memory per running execution: ${r.memory.live_per_running_execution_kb} KB live ` +
      `(${r.memory.heap_per_running_execution_kb} KB of it in the JS heap; worker RSS ${r.memory.idle_rss_mb} MB idle → ` +
      `${r.memory.running_rss_mb} MB, ${r.memory.rss_per_running_execution_kb} KB a run, freed pages included)`,
    `    ${r.queued} submitted in ${r.submit.seconds.toFixed(1)} s (${r.submit.per_s.toFixed(0)}/s); drained in ` +
      `${r.drain.seconds.toFixed(1)} s (${r.drain.per_s.toFixed(0)}/s, worker peak RSS ${r.drain.peak_worker_rss_mb} MB)`,
  ].join('\n');
}
