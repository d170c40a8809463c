// npm run bench, part 3: what a person waits for at the terminal, measured the way they run it.
//  1. `npm run clawlink -- user list` wall time, with no server running (the CLI starts and
//     stops the embedded PostgreSQL itself) and beside a running `npm start`.
//  2. `npm start` to GET /readyz 200 on an existing data directory (a restart).
// Baseline of the same run: a bare Node.js start (`node -e 0`),
// the floor under any command. Figures go to bench/results/cli-*.json; a summary is printed.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const resultsDir = join(root, 'bench', 'results');
const RUNS = Number(process.env.BENCH_CLI_RUNS ?? 7);
const TARGET_CLI_S = 1.5;
const TARGET_RESTART_S = 4;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
const max = (xs: number[]) => Math.max(...xs);

/** Wall time of one command, in seconds; throws with its output when it fails. */
function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const start = performance.now();
  const res = spawnSync(cmd, args, { cwd: root, env, encoding: 'utf8' });
  const seconds = (performance.now() - start) / 1000;
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${res.status}): ${res.stderr}`);
  return seconds;
}

function series(cmd: string, args: string[], env: NodeJS.ProcessEnv) {
  timed(cmd, args, env); // warm-up: builds and caches are the steady state being measured
  const runs = Array.from({ length: RUNS }, () => timed(cmd, args, env));
  return { median_s: median(runs), max_s: max(runs), runs_s: runs };
}

/** `npm start` in its own process group, as a terminal runs it; resolves once /readyz answers 200. */
async function startServer(env: NodeJS.ProcessEnv, port: number) {
  const began = performance.now();
  const child = spawn('npm', ['start'], { cwd: root, env, detached: true, stdio: 'ignore' });
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`npm start exited with ${child.exitCode}`);
    const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return { child, ready_s: (performance.now() - began) / 1000 };
    await sleep(20);
  }
  throw new Error('npm start: /readyz did not answer 200 within 120 s');
}

async function stopServer(child: ChildProcess) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-(child.pid as number), 'SIGINT');
  await exited;
}

await mkdir(resultsDir, { recursive: true });
const dataDir = await mkdtemp(join(tmpdir(), 'ccl-bench-cli-'));
try {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATA_DIR: dataDir,
    PORT: String(port),
    EMBEDDED_PG_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
  };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'HOST', 'AUTH_MODE']) delete env[name];

  const baseline = series(process.execPath, ['-e', '0'], env);
  // The first start creates the data directory (initdb, migrations, first admin); not measured.
  await stopServer((await startServer(env, port)).child);
  const cliAlone = series('npm', ['run', '-s', 'clawlink', '--', 'user', 'list'], env);

  const first = await startServer(env, port);
  const restarts = [first.ready_s];
  // A server's first seconds are busy (its own query engine compiles in the background, the
  // queue sets up); a person runs the CLI beside a server that has settled.
  await sleep(3000);
  const cliBeside = series('npm', ['run', '-s', 'clawlink', '--', 'user', 'list'], env);
  await stopServer(first.child);
  while (restarts.length < Math.max(3, Math.ceil(RUNS / 2))) {
    const { child, ready_s } = await startServer(env, port);
    restarts.push(ready_s);
    await stopServer(child);
  }
  const restart = { median_s: median(restarts), max_s: max(restarts), runs_s: restarts };

  const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(2).toString('hex')}`;
  const results = {
    run: runId,
    node: process.version,
    baseline_node_start: baseline,
    cli_user_list_no_server: cliAlone,
    cli_user_list_server_running: cliBeside,
    start_to_ready_existing_data: restart,
    targets: { cli_s: TARGET_CLI_S, restart_s: TARGET_RESTART_S },
  };
  await writeFile(join(resultsDir, `cli-${runId}.json`), `${JSON.stringify(results, null, 2)}\n`);
  await writeFile(join(resultsDir, 'cli-latest.json'), `${JSON.stringify(results, null, 2)}\n`);

  const ok = (s: number, target: number) => (s < target ? 'meets target' : 'MISSES target');
  const line = (label: string, s: { median_s: number; max_s: number }, target: number) =>
    console.log(
      `  ${label}: median ${s.median_s.toFixed(2)} s, max ${s.max_s.toFixed(2)} s (${(s.median_s / baseline.median_s).toFixed(1)}× a bare Node.js start) — ${ok(s.median_s, target)} (< ${target} s)`,
    );
  console.log(`\nCoderClawLink terminal benchmark (${runId}), ${RUNS} runs each after a warm-up`);
  console.log(`  baseline: node -e 0: median ${baseline.median_s.toFixed(2)} s`);
  line('npm run clawlink -- user list, no server running', cliAlone, TARGET_CLI_S);
  line('npm run clawlink -- user list, beside npm start', cliBeside, TARGET_CLI_S);
  line('npm start → /readyz 200 on existing .data/', restart, TARGET_RESTART_S);
  console.log(`  figures: bench/results/cli-${runId}.json\n`);
} finally {
  await rm(dataDir, { recursive: true, force: true, maxRetries: 5 });
}
