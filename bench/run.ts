// npm run bench: measures in one run, on this machine, against baselines of the same run.
//  1. GET /api/runtime/tasks/:id/state throughput and p99 vs a bare Fastify route with the same JSON.
//  2. submit → first RUNNING latency (p50/p99) for `echo` on each queue backend.
//  3. GitHub webhook acknowledgement (signed issue_comment deliveries, as GitHub sends them):
//     p50/p99 vs a bare Fastify route that parses the same body.
// Figures go to bench/results/*.json; a summary is printed.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CHANNELS } from '@ccl/core';
import { createNotifier } from '@ccl/queue';
import { createTestDatabase, webhookHeaders } from '@ccl/testing';
import autocannon from 'autocannon';
import { readJson, startTestServer } from '../apps/server/src/test-support/test-server.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const resultsDir = join(here, 'results');
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 10);
const LATENCY_SAMPLES = Number(process.env.BENCH_SAMPLES ?? 200);

function spawnServer(script: string, args: string[]): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, script), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => resolve({ port: JSON.parse(line).port, child }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function load(url: string) {
  const result = await autocannon({ url, connections: 32, pipelining: 1, duration: DURATION_S });
  return {
    requests_per_s: result.requests.average,
    latency_p50_ms: result.latency.p50,
    latency_p99_ms: result.latency.p99,
    non_2xx: result.non2xx,
    errors: result.errors,
  };
}

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

async function stateReads() {
  const db = await createTestDatabase();
  const full = await spawnServer('full-server.ts', [db.url]);
  try {
    const base = `http://127.0.0.1:${full.port}`;
    const headers = { 'content-type': 'application/json', accept: 'application/json' };
    const session = await readJson(await fetch(`${base}/api/runtime/sessions`, { method: 'POST', headers }));
    const submitted = await readJson(
      await fetch(`${base}/api/runtime/tasks/submit`, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          agent_type: 'echo',
          prompt: 'bench',
          context: {},
          session_id: session.session_id,
        }),
      }),
    );
    const path = `/api/runtime/tasks/${submitted.task_id}/state?session_id=${session.session_id}`;
    const body = await (await fetch(`${base}${path}`)).text();
    const bare = await spawnServer('bare-server.ts', [body]);
    try {
      await load(`http://127.0.0.1:${bare.port}${path}`); // warm-up
      const baseline = await load(`http://127.0.0.1:${bare.port}${path}`);
      await load(`${base}${path}`);
      const ours = await load(`${base}${path}`);
      return { baseline, ours, ratio: ours.requests_per_s / baseline.requests_per_s, target_ratio: 0.4 };
    } finally {
      await stopChild(bare.child);
    }
  } finally {
    await stopChild(full.child);
    await db.drop();
  }
}

async function submitToRunning(backend: 'redis' | 'postgres') {
  const server = await startTestServer({ backend });
  const notifier = createNotifier(server.databaseUrl);
  const waiting = new Map<string, (t: number) => void>();
  const pendingRunning = new Map<string, number>();
  await notifier.subscribe(CHANNELS.execution, (payload) => {
    const change = JSON.parse(payload) as { executionId: string; state: string };
    if (change.state !== 'RUNNING') return;
    const now = performance.now();
    const resolve = waiting.get(change.executionId);
    if (resolve) resolve(now);
    else pendingRunning.set(change.executionId, now);
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
        (await new Promise<number>((resolve) => {
          waiting.set(execution_uuid, resolve);
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
const reads = await stateReads();
const latency = { redis: await submitToRunning('redis'), postgres: await submitToRunning('postgres') };
const webhooks = await webhookAcks();
const results = {
  run: runId,
  node: process.version,
  duration_s: DURATION_S,
  state_reads: reads,
  submit_to_running: latency,
  github_webhook_ack: webhooks,
};
await writeFile(join(resultsDir, `core-${runId}.json`), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(join(resultsDir, 'core-latest.json'), `${JSON.stringify(results, null, 2)}\n`);

const ok = (cond: boolean) => (cond ? 'meets target' : 'MISSES target');
console.log(`\nCoderClawLink core benchmark (${runId})`);
console.log(
  `  state reads: ${reads.ours.requests_per_s.toFixed(0)} req/s (p99 ${reads.ours.latency_p99_ms} ms) vs bare Fastify ${reads.baseline.requests_per_s.toFixed(0)} req/s (p99 ${reads.baseline.latency_p99_ms} ms) = ${(reads.ratio * 100).toFixed(1)} % — ${ok(reads.ratio >= 0.4)} (≥ 40 %)`,
);
for (const backend of ['redis', 'postgres'] as const) {
  const l = latency[backend];
  console.log(
    `  submit → RUNNING on ${backend}: p50 ${l.p50_ms.toFixed(1)} ms, p99 ${l.p99_ms.toFixed(1)} ms over ${l.samples} — ${ok(l.p50_ms < l.target_p50_ms)} (p50 < ${l.target_p50_ms} ms)`,
  );
}
console.log(
  `  GitHub webhook ack: p50 ${webhooks.ours.p50_ms.toFixed(1)} ms, p99 ${webhooks.ours.p99_ms.toFixed(1)} ms vs bare Fastify p50 ${webhooks.baseline.p50_ms.toFixed(1)} ms (${webhooks.ratio_p50.toFixed(1)}×) over ${webhooks.ours.samples} — ${ok(webhooks.ours.p50_ms < webhooks.target_p50_ms)} (p50 < 50 ms)`,
);
console.log(`  figures: bench/results/core-${runId}.json\n`);
process.exit(0);
