// What every bench scenario shares: starting a bench process, stopping it, the requests as CoderClaw
// and the board send them, percentiles, and where figures go.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type autocannon from 'autocannon';
import { readJson } from '../apps/server/src/test-support/test-server.ts';

export const benchDir = fileURLToPath(new URL('.', import.meta.url));
export const resultsDir = join(benchDir, 'results');

/** The first line a bench process prints: its port, pid, and with `--team` the bench's credentials. */
export type Spawned = {
  port: number;
  pid: number;
  child: ChildProcess;
  /** The lines it prints after the first. */
  lines: Interface;
  key?: string;
  secret?: string;
};

/**
 * Starts a bench process (`node --import tsx bench/<script>`); it prints one JSON line when ready.
 * `node` adds Node.js flags (another `--import`, `--cpu-prof`); `ipc` opens a channel for questions
 * the process answers (full-server.ts: its memory).
 */
export function spawnServer(
  script: string,
  args: string[],
  opts: { node?: string[]; ipc?: boolean } = {},
): Promise<Spawned> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ...(opts.node ?? []), join(benchDir, script), ...args],
    {
      // stdin: a pipe the process watches (with-parent.ts), so it stops when this process ends.
      stdio: ['pipe', 'pipe', 'inherit', ...(opts.ipc ? (['ipc'] as const) : [])],
    },
  );
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (line) => resolve({ pid: child.pid ?? 0, ...JSON.parse(line), child, lines }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
}

export async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

/** What both adapter generations send on every request (shared/coderclaw-contract.md). */
export const ADAPTER_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

/** CoderClaw 2026.3's requests: its API key as the bearer and its claw id. */
export const keyedHeaders = (key: string) => ({
  ...ADAPTER_HEADERS,
  authorization: `Bearer ${key}`,
  'x-claw-id': '1',
});

/** The body of POST /api/tasks that starts an `echo` run at once (a card with a prompt and an agent). */
export const echoTask = (title: string, echo: { steps: number; delay_ms: number }) => ({
  title,
  prompt: title,
  agent_type: 'echo',
  context: { echo },
});

export const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

export async function post(url: string, headers: Record<string, string>, body?: unknown) {
  const init = { method: 'POST', headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
  return readJson(await fetch(url, init));
}

/** POST /api/tasks as a client sends it; anything but 201 stops the scenario with the answer. */
export async function submitTask(base: string, headers: Record<string, string>, body: unknown) {
  const res = await fetch(`${base}/api/tasks`, { method: 'POST', headers, body: JSON.stringify(body) });
  if (res.status !== 201) throw new Error(`POST /api/tasks answered ${res.status}: ${await res.text()}`);
  const task = await readJson(res);
  return task.latest_execution as { id: string; number: number };
}

/** Runs `count` calls of `fn` with at most `width` at once, in order of their index. */
export async function inParallel<T>(count: number, width: number, fn: (i: number) => Promise<T>) {
  const out: T[] = new Array(count);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < count; i = next++) out[i] = await fn(i);
  };
  await Promise.all(Array.from({ length: Math.min(width, count) }, lane));
  return out;
}

/**
 * Node.js flags for our server processes, for looking into a result; none by default.
 * BENCH_CPU_PROF=<dir>: each writes its CPU profile there (read with bench/profile-summary.ts).
 * BENCH_COUNT_QUERIES=<dir>: each counts its SQL statements into queries-<pid>.json there
 * (bench/query-count.ts; the wrapping slows it, so read the mix from such a run, not its timings).
 */
export function diagnosticFlags(): string[] {
  const { BENCH_CPU_PROF: prof, BENCH_COUNT_QUERIES: queries } = process.env;
  return [
    ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []),
    ...(queries ? ['--import', join(benchDir, 'query-count.ts')] : []),
  ];
}

/** What a scenario keeps of an autocannon run: rate, latency and failed answers. */
export const loadFigures = (result: autocannon.Result) => ({
  requests_per_s: result.requests.average,
  latency_p50_ms: result.latency.p50,
  latency_p99_ms: result.latency.p99,
  non_2xx: result.non2xx,
  errors: result.errors,
});

/** Progress on stderr, so a long scenario says where it is without mixing into the summary. */
export const progress = (text: string) => process.stderr.write(`  … ${text}\n`);

/** A /proc/<pid>/stat line's command name and its CPU seconds (user + system). */
function statCpu(stat: string): { name: string; seconds: number } {
  // Fields after the command name, which is in parentheses and may hold spaces; utime and stime are
  // the 14th and 15th fields of the line, in clock ticks (100 a second on Linux).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    name: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    seconds: (Number(fields[11]) + Number(fields[12])) / 100,
  };
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number {
  return statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8')).seconds;
}

/**
 * CPU seconds of every PostgreSQL process on this machine (the bench's database server is local):
 * over a round where only one side works, what the database spent on it.
 */
export function postgresCpuSeconds(): number {
  let total = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const { name, seconds } = statCpu(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      if (name.startsWith('postgres')) total += seconds;
    } catch {
      // Gone between the listing and the read.
    }
  }
  return total;
}

/** CPU seconds the whole machine spent busy (every core; idle and I/O wait aside), from /proc/stat. */
export function machineCpuSeconds(): number {
  const ticks = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = ticks;
  return (user + nice + system + irq + softirq + steal) / 100;
}

/**
 * Connections the machine's listening sockets turned away so far because their accept queue was
 * full (TcpExt ListenOverflows, /proc/net/netstat): each one's client retries 1, 3, 7… s later.
 */
export function listenOverflows(): number {
  // Two TcpExt lines: the counters' names, then their values.
  const [names = '', values = ''] = readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'));
  return Number(values.split(/\s+/)[names.split(/\s+/).indexOf('ListenOverflows')] ?? 0);
}

/** A process's resident set size in bytes, from /proc (Linux). */
export function rssBytes(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
  return Number(line?.[1] ?? 0) * 1024;
}
