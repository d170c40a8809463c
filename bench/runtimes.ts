// npm run bench (second part): the agent runtimes, with every fake provider answering at once (no delay).
//  1. Wall time per tool turn (p50/p99) of the tool loop, driven directly, for claude, openai and ollama
//     against their loopback fakes, and for an in-process "null model" (the floor of our loop + tools).
//  2. N concurrent executions (default 200) on one worker process (WORKER_CONCURRENCY=N) through the whole
//     server: wall time, all COMPLETED, RSS and heap growth per execution running at the peak.
//  3. cancel → CANCELLED latency (p50/p99) for claude, openai, ollama, goose and opendevin.
//  4. Leaks after everything: processes left in the workspaces or of the fake goose, sockets to the fakes.
// Figures go to bench/results/runtimes-*.json; a summary is printed.
//
// Smaller runs: BENCH_RT_RUNS, BENCH_RT_TURNS (part 1), BENCH_RT_CONCURRENT, BENCH_RT_CONCURRENT_TURNS,
// BENCH_RT_RUNTIME (part 2), BENCH_RT_CANCEL_SAMPLES (part 3), BENCH_RT_BACKEND (postgres | redis);
// BENCH_RT_HOLD_MS holds part 2's held executions longer, BENCH_RT_LOG_LEVEL makes the server log,
// BENCH_RT_POOL_SIZE sets the server's DATABASE_POOL_SIZE (unset: the role's default).
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadConfig } from '@ccl/config';
import { CHANNELS } from '@ccl/core';
import { createNotifier } from '@ccl/queue';
import {
  type FakeGooseRecord,
  type FakeGooseStep,
  fakeGoosePath,
  gooseComplete,
  gooseText,
  gooseToolRequest,
  ohAgentMessage,
  startFakeAnthropic,
  startFakeOllama,
  startFakeOpenAI,
  startFakeOpenHands,
  writeGooseScript,
} from '@ccl/testing';
import { fakeGooseBin } from '../apps/server/src/test-support/fake-goose-bin.ts';
import { createGitFixture } from '../apps/server/src/test-support/git-fixture.ts';
import { readJson, startTestServer, type TestServer } from '../apps/server/src/test-support/test-server.ts';
// @ccl/agents is not a dependency of the root package; its sources are imported by path.
import { createClaudeModel } from '../packages/agents/src/claude/claude-model.ts';
import {
  type ChatModel,
  createToolbox,
  createWorkspace,
  DEFAULT_PRICES,
  type ModelTurn,
  priceOf,
  ToolLoopRunner,
  type TurnRequest,
  type Workspace,
} from '../packages/agents/src/index.ts';
import { createOllamaModel } from '../packages/agents/src/ollama/ollama-model.ts';
import { createOpenAIModel } from '../packages/agents/src/openai/openai-model.ts';
import { testRunOptions } from '../packages/agents/src/test-run-options.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const resultsDir = join(here, 'results');
const env = (name: string, def: number) => {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : def;
};
const RUNS = env('BENCH_RT_RUNS', 10);
const TURNS = env('BENCH_RT_TURNS', 30);
const CONCURRENT = env('BENCH_RT_CONCURRENT', 200);
const CONCURRENT_TURNS = env('BENCH_RT_CONCURRENT_TURNS', 4);
const CANCEL_SAMPLES = env('BENCH_RT_CANCEL_SAMPLES', 20);
/** Extra time the held executions stay held before they are measured and cancelled. */
const HOLD_MS = env('BENCH_RT_HOLD_MS', 1);
const CONCURRENT_RUNTIME = (process.env.BENCH_RT_RUNTIME ?? 'claude') as ApiRuntime;
const BACKEND = process.env.BENCH_RT_BACKEND === 'redis' ? 'redis' : 'postgres';
const KEY = 'bench-key';
const OPENHANDS_MODEL = 'anthropic/claude-sonnet-4-6';
/** The fakes are Node http servers: they close an idle keep-alive connection after 5 s. */
const KEEPALIVE_WAIT_MS = 7_000;
const ACTIVE = new Set(['PLANNING', 'RUNNING', 'WAITING']);
const TERMINAL = ['COMPLETED', 'FAILED', 'CANCELLED'];
const API_RUNTIMES = ['claude', 'openai', 'ollama'] as const;
type ApiRuntime = (typeof API_RUNTIMES)[number];
const ALL_RUNTIMES = [...API_RUNTIMES, 'goose', 'opendevin'] as const;
type Runtime = (typeof ALL_RUNTIMES)[number];

/** The config's default CLAUDE_MODEL (claude-sonnet-4-5) makes the SDK print a deprecation warning on every call. */
const CLAUDE_MODEL = 'claude-sonnet-4-6';
const CANCEL_RUNTIMES = ALL_RUNTIMES.filter(
  (r) => !process.env.BENCH_RT_CANCEL_RUNTIMES || process.env.BENCH_RT_CANCEL_RUNTIMES.split(',').includes(r),
);
const defaults = loadConfig({ CLAUDE_MODEL });
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---- statistics ----

const pct = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;

interface Stats {
  samples: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
  max_ms: number;
}

function stats(values: number[]): Stats {
  const sorted = [...values].sort((a, b) => a - b);
  const round = (n: number) => Math.round(n * 1000) / 1000;
  return {
    samples: sorted.length,
    p50_ms: round(pct(sorted, 50)),
    p99_ms: round(pct(sorted, 99)),
    mean_ms: round(sorted.reduce((s, v) => s + v, 0) / Math.max(1, sorted.length)),
    max_ms: round(sorted.at(-1) ?? 0),
  };
}

// ---- the fakes ----

/** The scripting surface the Anthropic, OpenAI and Ollama fakes share. */
interface Turn {
  text?: string;
  toolCalls?: Array<{ name: string; input: Record<string, unknown> }>;
  hang?: boolean;
}
interface ApiFake {
  readonly url: string;
  script(turns: Turn[]): void;
  readonly requests: unknown[];
  close(): Promise<void>;
}

const readTurn: Turn = { text: 'Reading.', toolCalls: [{ name: 'read_file', input: { path: 'hello.txt' } }] };
const finishTurn: Turn = { text: 'Done.', toolCalls: [{ name: 'finish', input: { summary: 'read it' } }] };

async function startFakes() {
  const claude = await startFakeAnthropic({ apiKey: KEY });
  const openai = await startFakeOpenAI({ apiKey: KEY });
  const ollama = await startFakeOllama();
  const openhands = await startFakeOpenHands();
  const api: Record<ApiRuntime, ApiFake> = { claude, openai, ollama };
  const ports = [claude.url, openai.url, ollama.url, openhands.url].map((u) => Number(new URL(u).port));
  return { claude, openai, ollama, openhands, api, ports: new Set(ports) };
}
type Fakes = Awaited<ReturnType<typeof startFakes>>;

/**
 * GooseRunner gives goose only PATH and HOME, so the fake's script and record paths travel in a
 * `goose` wrapper that exports them and execs the fake (as runtime-goose.test.ts does).
 */
async function fakeGoose() {
  const script = await writeGooseScript([]);
  const { bin, dir } = await fakeGooseBin(script);
  return {
    bin,
    async play(steps: FakeGooseStep[]) {
      await rm(script.recordPath, { force: true });
      await writeFile(script.scriptPath, JSON.stringify(steps));
    },
    readRecord: (): Promise<FakeGooseRecord | undefined> => script.readRecord(),
    async remove() {
      await rm(dir, { recursive: true, force: true });
      await rm(join(script.scriptPath, '..'), { recursive: true, force: true });
    },
  };
}

// ---- 1. wall time per tool turn, runner driven directly ----

/** Answers at once, in process: what is left of a turn is our loop, the tools and the generator plumbing. */
function nullModel(turns: number): ChatModel {
  let n = 0;
  const usage = { inputTokens: 10, outputTokens: 5 };
  return {
    provider: 'claude',
    model: 'null-model',
    async turn(req: TurnRequest): Promise<ModelTurn> {
      if (req.tools.length === 0) {
        req.onText('1. Read hello.txt');
        return { text: '1. Read hello.txt', toolCalls: [], usage, stopReason: 'end' };
      }
      n += 1;
      if (n > turns) {
        return {
          text: '',
          toolCalls: [{ id: `null_${n}`, name: 'finish', input: { summary: 'read it' } }],
          usage,
          stopReason: 'tool_use',
        };
      }
      req.onText('Reading.');
      return {
        text: 'Reading.',
        toolCalls: [{ id: `null_${n}`, name: 'read_file', input: { path: 'hello.txt' } }],
        usage,
        stopReason: 'tool_use',
      };
    },
  };
}

/** Records how long each model call took, in call order (0 = the planning call). */
function timed(inner: ChatModel, durations: number[]): ChatModel {
  return {
    provider: inner.provider,
    model: inner.model,
    async turn(req) {
      const started = performance.now();
      try {
        return await inner.turn(req);
      } finally {
        durations.push(performance.now() - started);
      }
    },
  };
}

/** A ToolLoopRunner built as the catalog's loopRunner builds it, over a timed model. */
function loopRunner(kind: ApiRuntime | 'null', fakes: Fakes, durations: number[]): ToolLoopRunner {
  const create = (model: string): ChatModel => {
    switch (kind) {
      case 'claude':
        return createClaudeModel({ apiKey: KEY, model, baseURL: fakes.claude.url });
      case 'openai':
        return createOpenAIModel({ apiKey: KEY, model, baseURL: fakes.openai.url });
      case 'ollama':
        return createOllamaModel({ host: fakes.ollama.url, model });
      default:
        return nullModel(TURNS);
    }
  };
  const defaultModel =
    kind === 'claude'
      ? defaults.CLAUDE_MODEL
      : kind === 'openai'
        ? defaults.OPENAI_MODEL
        : kind === 'ollama'
          ? defaults.OLLAMA_MODEL
          : 'null-model';
  const prices = { ...DEFAULT_PRICES, ...defaults.MODEL_PRICES };
  return new ToolLoopRunner({
    agentType: kind === 'null' ? 'claude' : kind,
    defaultModel,
    createModel: (model) => timed(create(model), durations),
    priceOf: (model) => priceOf(prices, model),
    maxOutputTokens: defaults.MAX_OUTPUT_TOKENS,
    createToolbox: (workspace, approval, network) =>
      createToolbox({
        workspace,
        approval,
        network,
        limits: { commandTimeoutMs: defaults.COMMAND_TIMEOUT_S * 1000 },
      }),
  });
}

async function turnTimes(kind: ApiRuntime | 'null', fakes: Fakes, workspace: Workspace) {
  const wall: number[] = [];
  const model: number[] = [];
  const loop: number[] = [];
  let toolErrors = 0;
  // Run 0 warms the JIT, the SDK and the connection pool up; it is not counted.
  for (let run = 0; run <= RUNS; run++) {
    const durations: number[] = [];
    const runner = loopRunner(kind, fakes, durations);
    if (kind !== 'null') {
      fakes.api[kind].script([
        { text: '1. Read hello.txt' },
        ...Array.from({ length: TURNS }, () => readTurn),
        finishTurn,
      ]);
    }
    const stream = runner.run({
      executionId: `bench-${kind}-${run}`,
      workspace,
      prompt: 'Read hello.txt again and again',
      options: testRunOptions({ max_turns: TURNS + 5 }),
      attempt: 1,
      signal: new AbortController().signal,
    });
    const names = new Map<string, string>();
    const resultAt: number[] = [];
    let step = await stream.next();
    while (!step.done) {
      const ev = step.value;
      if (ev.type === 'tool_call') names.set(ev.id, ev.name);
      else if (ev.type === 'tool_result' && names.get(ev.id) === 'read_file') {
        resultAt.push(performance.now());
        if (ev.isError) toolErrors += 1;
      }
      step = await stream.next();
    }
    if (!step.value.success) throw new Error(`${kind} run failed: ${step.value.error}`);
    if (resultAt.length !== TURNS)
      throw new Error(`${kind}: ${resultAt.length} read_file turns, not ${TURNS}`);
    if (run === 0) continue;
    // Turn k runs from tool result k-1 to tool result k: usage event, model call k+1 (0 is the
    // plan), tool_call event, the tool itself, tool_result event.
    for (let k = 1; k < resultAt.length; k++) {
      const w = (resultAt[k] as number) - (resultAt[k - 1] as number);
      const m = durations[k + 1] ?? 0;
      wall.push(w);
      model.push(m);
      loop.push(w - m);
    }
  }
  return {
    wall: stats(wall),
    model_call: stats(model),
    loop_and_tools: stats(loop),
    tool_errors: toolErrors,
  };
}

async function perTurn(fakes: Fakes, root: string, repoDir: string) {
  const workspace = await createWorkspace({ root, executionId: 'per-turn', repoUrl: repoDir });
  try {
    const out: Record<string, Awaited<ReturnType<typeof turnTimes>>> = {};
    for (const kind of ['null', ...API_RUNTIMES] as const)
      out[kind] = await turnTimes(kind, fakes, workspace);
    return out;
  } finally {
    await workspace.dispose();
  }
}

// ---- the server and its state changes ----

/** Follows every execution's state from the server's own change notifications. */
class StateTracker {
  private readonly states = new Map<string, string>();
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, Array<(at: number) => void>>();
  active = 0;

  onChange = (payload: string) => {
    const at = performance.now();
    const { executionId: id, state } = JSON.parse(payload) as { executionId: string; state: string };
    const before = this.states.get(id);
    if (before === state) return;
    this.states.set(id, state);
    if (before !== undefined && ACTIVE.has(before)) this.active -= 1;
    if (ACTIVE.has(state)) this.active += 1;
    const key = `${id}:${state}`;
    if (!this.seen.has(key)) this.seen.set(key, at);
    for (const wake of this.waiters.get(key) ?? []) wake(at);
    this.waiters.delete(key);
  };

  /** When the execution first reached `state`, if it has. */
  at(id: string, state: string): number | undefined {
    return this.seen.get(`${id}:${state}`);
  }

  /** When the execution first reached one of `states` (waits for it), or rejects after `timeoutMs`. */
  when(id: string, states: string[], timeoutMs: number): Promise<{ state: string; at: number }> {
    return new Promise((resolve, reject) => {
      for (const state of states) {
        const at = this.seen.get(`${id}:${state}`);
        if (at !== undefined) return resolve({ state, at });
      }
      const timer = setTimeout(
        () => reject(new Error(`execution ${id} not ${states.join('/')} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      for (const state of states) {
        const key = `${id}:${state}`;
        const list = this.waiters.get(key) ?? [];
        list.push((at) => {
          clearTimeout(timer);
          resolve({ state, at });
        });
        this.waiters.set(key, list);
      }
    });
  }
}

const headers = { 'content-type': 'application/json', accept: 'application/json' };

async function api(server: TestServer, method: string, path: string, body?: unknown) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return readJson(res);
}

async function submit(server: TestServer, sessionId: string, agentType: string, context: object) {
  const { task_id, execution_uuid } = await api(server, 'POST', '/api/runtime/tasks/submit', {
    agent_type: agentType,
    prompt: `bench ${agentType}`,
    context,
    session_id: sessionId,
  });
  return { taskId: String(task_id), executionId: String(execution_uuid) };
}

async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000, everyMs = 10) {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

// ---- 2. concurrent executions ----

/**
 * One fake serves every execution from one FIFO queue, so the script cannot be per execution: all
 * tool turns come first, then finishing turns (twice as many as executions, for planning calls that
 * come late). Every execution ends COMPLETED; each gets about `turns` read_file turns.
 */
function scriptMany(fake: ApiFake, executions: number, turns: number) {
  fake.script([
    ...Array.from({ length: executions * (turns + 1) }, () => readTurn),
    ...Array.from({ length: executions * 2 }, () => finishTurn),
  ]);
}

/** When the execution ended; an execution still going after `timeoutMs` counts as ending then, as NOT_ENDED. */
function endOf(tracker: StateTracker, id: string, timeoutMs: number) {
  return tracker.when(id, TERMINAL, timeoutMs).catch(() => ({ state: 'NOT_ENDED', at: performance.now() }));
}

async function runMany(
  server: TestServer,
  tracker: StateTracker,
  sessionId: string,
  fake: ApiFake,
  repoDir: string,
  count: number,
) {
  scriptMany(fake, count, CONCURRENT_TURNS);
  const started = performance.now();
  const subs = await Promise.all(
    Array.from({ length: count }, () => submit(server, sessionId, CONCURRENT_RUNTIME, { repo: repoDir })),
  );
  const submittedMs = performance.now() - started;
  const ends = await Promise.all(subs.map((s) => endOf(tracker, s.executionId, 150_000)));
  const wallMs = Math.max(...ends.map((e) => e.at)) - started;
  const rows = await server.prisma.execution.groupBy({
    by: ['state'],
    where: { id: { in: subs.map((s) => s.executionId) } },
    _count: true,
  });
  const byState = Object.fromEntries(rows.map((r) => [r.state, r._count]));
  return { subs, wallMs, submittedMs, byState };
}

const mb = (bytes: number) => Math.round((bytes / 1048576) * 10) / 10;

/** Heap and RSS after full collections: what is live, not what is waiting to be collected. */
async function liveMemory(gc: () => void) {
  gc();
  await sleep(50);
  gc();
  return process.memoryUsage();
}

/**
 * Signs that an execution was run more than once or re-queued: a second `workspace` event means a
 * second runner started on it (a retry, or a job handed out twice).
 */
async function rerunSigns(server: TestServer, ids: string[]) {
  const rows = await server.prisma.executionEvent.groupBy({
    by: ['type'],
    where: { executionId: { in: ids }, type: { in: ['retry', 'retry_scheduled', 'requeued'] } },
    _count: true,
  });
  const workspaces = await server.prisma.executionEvent.groupBy({
    by: ['executionId'],
    where: { executionId: { in: ids }, type: 'workspace' },
    _count: true,
  });
  const attempts = await server.prisma.execution.groupBy({
    by: ['attempts'],
    where: { id: { in: ids } },
    _count: true,
  });
  const failures = await server.prisma.execution.groupBy({
    by: ['error'],
    where: { id: { in: ids }, state: 'FAILED' },
    _count: true,
  });
  // A job still active once its execution has ended is a runner nobody can stop any more.
  const jobStates = await Promise.all(ids.map((id) => server.deps.queue.state(id)));
  return {
    ...Object.fromEntries(rows.map((r) => [r.type, r._count])),
    jobs_still_active: jobStates.filter((st) => st === 'active').length,
    executions_run_more_than_once: workspaces.filter((w) => w._count > 1).length,
    attempts: Object.fromEntries(attempts.map((a) => [String(a.attempts), a._count])),
    failures: failures.map((f) => ({ error: f.error, count: f._count })),
  };
}

/**
 * Pass A: N executions run to the end at once. Wall time, end states, the time each spent in
 * PLANNING (workspace checkout + planning call) and RUNNING, and peak RSS/heap (heap peaks count
 * garbage not yet collected, so they overstate what an execution holds).
 */
async function completionPass(
  server: TestServer,
  tracker: StateTracker,
  sessionId: string,
  fake: ApiFake,
  repoDir: string,
  gc: () => void,
) {
  const base = await liveMemory(gc);
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  let peakRunning = 0;
  let fakeRequests = 0;
  const sample = () => {
    // The fake keeps every request body it served; that memory is the test fake's, not the server's.
    fakeRequests += fake.requests.length;
    fake.requests.length = 0;
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRunning = Math.max(peakRunning, tracker.active);
  };
  const sampler = setInterval(sample, 20);
  let outcome: Awaited<ReturnType<typeof runMany>>;
  try {
    outcome = await runMany(server, tracker, sessionId, fake, repoDir, CONCURRENT);
  } finally {
    clearInterval(sampler);
  }
  sample();
  const ids = outcome.subs.map((s) => s.executionId);
  const turns = await server.prisma.executionEvent.count({
    where: { executionId: { in: ids }, type: 'tool_call', data: { path: ['name'], equals: 'read_file' } },
  });
  const events = await server.prisma.executionEvent.count({ where: { executionId: { in: ids } } });
  const phase = (from: string, to: string) =>
    stats(
      ids.flatMap((id) => {
        const a = tracker.at(id, from);
        const b = tracker.at(id, to);
        return a !== undefined && b !== undefined ? [b - a] : [];
      }),
    );
  return {
    read_file_turns_total: turns,
    /** Each one is a database transaction plus a NOTIFY on the worker's side. */
    events_recorded: events,
    fake_requests: fakeRequests,
    submit_all_ms: Math.round(outcome.submittedMs),
    wall_ms: Math.round(outcome.wallMs),
    end_states: outcome.byState,
    all_completed: outcome.byState.COMPLETED === CONCURRENT,
    rerun_signs: await rerunSigns(server, ids),
    peak_running: peakRunning,
    planning_phase: phase('PLANNING', 'RUNNING'),
    running_phase: phase('RUNNING', 'COMPLETED'),
    memory: {
      baseline_live_rss_mb: mb(base.rss),
      baseline_live_heap_mb: mb(base.heapUsed),
      peak_rss_mb: mb(peakRss),
      peak_heap_mb: mb(peakHeap),
      peak_rss_growth_mb: mb(peakRss - base.rss),
      peak_heap_growth_mb: mb(peakHeap - base.heapUsed),
    },
  };
}

/**
 * Pass B: N executions held mid-run (each one's last model call is a stream that hangs after its
 * text), so all N are running at once in a steady state: live RSS and heap per running execution.
 * Then all N are cancelled at once: cancel → CANCELLED under load.
 */
async function heldPass(
  server: TestServer,
  tracker: StateTracker,
  sessionId: string,
  fake: ApiFake,
  repoDir: string,
  gc: () => void,
) {
  fake.script([
    ...Array.from({ length: CONCURRENT * (CONCURRENT_TURNS + 1) }, () => readTurn),
    ...Array.from({ length: CONCURRENT * 2 }, (): Turn => ({ text: 'holding ', hang: true })),
  ]);
  let served = 0;
  const drain = () => {
    served += fake.requests.length;
    fake.requests.length = 0;
  };
  fake.requests.length = 0;
  const base = await liveMemory(gc);
  const subs = await Promise.all(
    Array.from({ length: CONCURRENT }, () =>
      submit(server, sessionId, CONCURRENT_RUNTIME, { repo: repoDir }),
    ),
  );
  // Every execution asks until it gets a hanging stream (all tool turns first, then one hang each)
  // and streams its text; one that failed on the way is not waited for.
  const ids = subs.map((s) => s.executionId);
  let heldCount = 0;
  const allHeld = await waitUntil(
    'all executions held',
    async () => {
      drain();
      const holding = await server.prisma.executionEvent.findMany({
        where: {
          executionId: { in: ids },
          type: 'message',
          data: { path: ['text'], string_contains: 'hold' },
        },
        distinct: ['executionId'],
        select: { executionId: true },
      });
      heldCount = holding.length;
      const ended = ids.filter((id) => TERMINAL.some((st) => tracker.at(id, st) !== undefined)).length;
      return heldCount + ended >= CONCURRENT;
    },
    120_000,
    100,
  ).then(
    () => true,
    () => false,
  );
  await sleep(300 + HOLD_MS); // the last hanging streams deliver their text
  drain();
  const running = tracker.active;
  const held = await liveMemory(gc);
  const per = (bytes: number) => Math.round(bytes / Math.max(1, running) / 1024);

  const started = performance.now();
  const answered = await Promise.all(
    subs.map((s) =>
      api(server, 'POST', `/api/runtime/tasks/${s.taskId}/cancel`, { session_id: sessionId }).then(
        () => performance.now(),
        () => performance.now(),
      ),
    ),
  );
  const ends = await Promise.all(subs.map((s) => endOf(tracker, s.executionId, 60_000)));
  const cancelled = ends.filter((e) => e.state === 'CANCELLED').length;
  await sleep(500);
  const endStates = await server.prisma.execution.groupBy({
    by: ['state'],
    where: { id: { in: ids } },
    _count: true,
  });

  return {
    all_held_within_120_s: allHeld,
    held_streams: heldCount,
    fake_requests: served,
    running_when_measured: running,
    end_states: Object.fromEntries(endStates.map((r) => [r.state, r._count])),
    rerun_signs: await rerunSigns(server, ids),
    /** Streams the fake still has open 0.5 s after every execution ended (should be 0; Anthropic fake only). */
    fake_open_streams_after: 'openStreams' in fake ? Number(fake.openStreams) : null,
    memory: {
      baseline_live_rss_mb: mb(base.rss),
      baseline_live_heap_mb: mb(base.heapUsed),
      held_live_rss_mb: mb(held.rss),
      held_live_heap_mb: mb(held.heapUsed),
      rss_per_running_execution_kb: per(held.rss - base.rss),
      heap_per_running_execution_kb: per(held.heapUsed - base.heapUsed),
      external_per_running_execution_kb: per(held.external - base.external),
    },
    cancel_all: {
      ...stats(ends.map((e) => e.at - started)),
      cancelled,
      all_cancelled: cancelled === CONCURRENT,
      /** From the first POST to each answer: the API's part (authorize, mark, publish). */
      request: stats(answered.map((t) => t - started)),
      /** From each POST's answer to CANCELLED: the worker's part (abort, runner stop, transition). */
      answer_to_cancelled: stats(ends.map((e, i) => e.at - (answered[i] ?? started))),
    },
  };
}

async function concurrentExecutions(
  server: TestServer,
  tracker: StateTracker,
  sessionId: string,
  fakes: Fakes,
  repoDir: string,
) {
  const fake = fakes.api[CONCURRENT_RUNTIME];
  // Warm-up: loads the SDK, fills the pools, compiles the hot paths.
  await runMany(server, tracker, sessionId, fake, repoDir, 10);
  const gc = exposeGc();
  // The held pass first: RSS seldom shrinks, so it is measured before a run-to-the-end pass raises it.
  const held = await heldPass(server, tracker, sessionId, fake, repoDir, gc);
  const completion = await completionPass(server, tracker, sessionId, fake, repoDir, gc);
  return {
    runtime: CONCURRENT_RUNTIME,
    executions: CONCURRENT,
    worker_concurrency: CONCURRENT,
    backend: BACKEND,
    scripted_tool_turns_per_execution: CONCURRENT_TURNS,
    completion,
    held,
  };
}

// ---- 3. cancel → CANCELLED ----

async function hasMessage(server: TestServer, executionId: string, marker: string) {
  const rows = await server.prisma.executionEvent.findMany({
    where: { executionId, type: 'message' },
    orderBy: { seq: 'asc' },
    select: { data: true },
  });
  // Text deltas are coalesced as they arrive, so the marker can span several message events.
  return rows
    .map((r) => String((r.data as { text?: unknown }).text ?? ''))
    .join('')
    .includes(marker);
}

async function hasToolCall(server: TestServer, executionId: string) {
  return (await server.prisma.executionEvent.count({ where: { executionId, type: 'tool_call' } })) > 0;
}

type CancelResult = Stats & { problems: string[]; conversations_deleted?: number };

async function cancelLatency(
  server: TestServer,
  tracker: StateTracker,
  sessionId: string,
  fakes: Fakes,
  goose: Awaited<ReturnType<typeof fakeGoose>>,
  runtime: Runtime,
  goosePids: number[],
) {
  const marker = 'working on it';
  const samples: number[] = [];
  const problems: string[] = [];
  const deletedBefore = fakes.openhands.deleted.length;
  // Sample 0 warms up and is not counted.
  for (let i = 0; i <= CANCEL_SAMPLES; i++) {
    if (runtime === 'goose') {
      // Goose's text is recorded when a tool call or the end closes it, so the run shows it is
      // mid-run by the tool call it makes (as runtime-goose.test.ts waits for it).
      await goose.play([
        { line: gooseText(marker) },
        { spawn_child: true },
        { line: gooseToolRequest('call_1', 'developer__shell', { command: 'sleep 60' }) },
        { sleep_ms: 60_000 },
        { line: gooseComplete() },
      ]);
    } else if (runtime === 'opendevin') {
      fakes.openhands.script([ohAgentMessage(marker), { sleep_ms: 60_000 }], { finalStatus: null });
    } else {
      fakes.api[runtime].script([{ text: '1. Wait' }, { text: `${marker} `, hang: true }]);
    }
    const { taskId, executionId } = await submit(server, sessionId, runtime, {});
    try {
      await tracker.when(executionId, ['RUNNING'], 15_000);
      // Mid-run: the hanging stream / the sleeping agent has already said something (goose: its tool call).
      await waitUntil(`${runtime} mid-run`, () =>
        runtime === 'goose' ? hasToolCall(server, executionId) : hasMessage(server, executionId, marker),
      );
      if (runtime === 'goose') {
        await waitUntil('goose child', async () => ((await goose.readRecord())?.children.length ?? 0) > 0);
        const record = await goose.readRecord();
        if (record) goosePids.push(record.pid, ...record.children);
      }
      await sleep(20);
      const started = performance.now();
      const res = await api(server, 'POST', `/api/runtime/tasks/${taskId}/cancel`, { session_id: sessionId });
      if (res.success !== true) problems.push(`cancel ${i} answered ${JSON.stringify(res)}`);
      const end = await tracker.when(executionId, TERMINAL, 10_000);
      if (end.state !== 'CANCELLED') problems.push(`sample ${i} ended ${end.state}`);
      if (i > 0) samples.push(end.at - started);
    } catch (err) {
      problems.push(`sample ${i}: ${(err as Error).message}`);
      console.error(`  ${runtime} cancel sample ${i}: ${(err as Error).message}`);
      // Do not leave it holding a worker slot.
      await api(server, 'POST', `/api/runtime/tasks/${taskId}/cancel`, { session_id: sessionId }).catch(
        () => undefined,
      );
      await tracker.when(executionId, TERMINAL, 10_000).catch(() => undefined);
    }
  }
  const result: CancelResult = { ...stats(samples), problems };
  if (runtime === 'opendevin') result.conversations_deleted = fakes.openhands.deleted.length - deletedBefore;
  return result;
}

// ---- 4. leaks ----

/** Live processes (zombies excluded) working in the workspaces, or running the fake goose. */
function leakedProcesses(workspacesDir: string, goosePids: number[]) {
  const leaks: Array<{ pid: number; why: string }> = [];
  const gooseScript = fakeGoosePath();
  const candidates = new Set(goosePids);
  for (const name of readdirSync('/proc')) {
    if (/^\d+$/.test(name)) candidates.add(Number(name));
  }
  for (const pid of candidates) {
    if (pid === process.pid) continue;
    let state: string;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2)[0] ?? '';
    } catch {
      continue; // gone
    }
    if (state === 'Z' || state === 'X') continue;
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd === workspacesDir || cwd.startsWith(`${workspacesDir}/`)) {
        leaks.push({ pid, why: `cwd ${cwd}` });
        continue;
      }
    } catch {}
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(gooseScript)) leaks.push({ pid, why: `runs ${cmd.trim()}` });
      else if (goosePids.includes(pid)) leaks.push({ pid, why: `goose or its child: ${cmd.trim()}` });
    } catch {}
  }
  return leaks;
}

/** This process's TCP connections with one end on a fake's port (listening sockets excluded). */
function socketsToFakes(ports: Set<number>) {
  const inodes = new Set<string>();
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
      if (m?.[1]) inodes.add(m[1]);
    } catch {}
  }
  let client = 0;
  let server = 0;
  for (const file of ['/proc/self/net/tcp', '/proc/self/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(file, 'utf8').trim().split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      const [local, remote, st, inode] = [f[1], f[2], f[3], f[9]];
      if (!local || !remote || !inode || st === '0A' || !inodes.has(inode)) continue;
      const port = (addr: string) => Number.parseInt(addr.slice(addr.lastIndexOf(':') + 1), 16);
      if (ports.has(port(remote))) client += 1;
      else if (ports.has(port(local))) server += 1;
    }
  }
  return { client, server, total: client + server };
}

// ---- main ----

await mkdir(resultsDir, { recursive: true });
const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(2).toString('hex')}`;
const benchStarted = performance.now();
const progress = (what: string) =>
  console.error(`runtimes bench [${((performance.now() - benchStarted) / 1000).toFixed(1)} s]: ${what}`);
const workspacesDir = await realpath(await mkdtemp(join(tmpdir(), 'ccl-bench-ws-')));
const repo = await createGitFixture({ 'hello.txt': 'hello\n'.repeat(20), 'README.md': '# bench\n' });
const fakes = await startFakes();
const goose = await fakeGoose();
const goosePids: number[] = [];

progress('1/4 wall time per tool turn…');
const turns = await perTurn(fakes, workspacesDir, repo.dir);

/** The servers' settings: the fakes' addresses, the workspaces, the worker's concurrency. */
const serverEnv: Record<string, string> = {
  ANTHROPIC_API_KEY: KEY,
  ANTHROPIC_BASE_URL: fakes.claude.url,
  CLAUDE_MODEL,
  OPENAI_API_KEY: KEY,
  OPENAI_BASE_URL: fakes.openai.url,
  OLLAMA_HOST: fakes.ollama.url,
  OPENHANDS_URL: fakes.openhands.url,
  OPENHANDS_MODEL: OPENHANDS_MODEL,
  GOOSE_BIN: goose.bin,
  WORKSPACES_DIR: workspacesDir,
  WORKER_CONCURRENCY: String(CONCURRENT),
  // One FIFO script serves every execution (scriptMany): a run that starts early can take many more
  // than its share of the read turns while the others still check out, and the default of 40 turns
  // then failed it ('turn limit reached', once in 200 in two full runs on 2026-12-07): the script's
  // doing, not the server's. The highest limit keeps every run to its own end.
  MAX_TURNS: '500',
  // The server is silent unless asked (BENCH_RT_LOG_LEVEL=warn shows job failures and shutdown steps).
  ...(process.env.BENCH_RT_LOG_LEVEL ? { LOG_LEVEL: process.env.BENCH_RT_LOG_LEVEL } : {}),
  ...(process.env.BENCH_RT_POOL_SIZE ? { DATABASE_POOL_SIZE: process.env.BENCH_RT_POOL_SIZE } : {}),
};

/** A server, its change notices followed, and a CoderClaw session on it. */
async function benchServer(extra: Record<string, string> = {}) {
  const started = await startTestServer({ backend: BACKEND, env: { ...serverEnv, ...extra } });
  const followed = new StateTracker();
  const notices = createNotifier(started.databaseUrl);
  await notices.subscribe(CHANNELS.execution, followed.onChange);
  const opened = await api(started, 'POST', '/api/runtime/sessions');
  return { server: started, tracker: followed, notifier: notices, sessionId: String(opened.session_id) };
}

const main = await benchServer();
const { server, tracker, notifier, sessionId } = main;
/**
 * Goose's cancels run on a second server with SANDBOX=off, as runtime-goose.test.ts runs them: the
 * fake goose's script and record live outside the workspace, where a sandboxed goose cannot reach.
 */
let gooseSide: Awaited<ReturnType<typeof benchServer>> | undefined;
async function gooseServer() {
  gooseSide ??= await benchServer({ SANDBOX: 'off' });
  return gooseSide;
}

let concurrent: Awaited<ReturnType<typeof concurrentExecutions>>;
const cancel: Partial<Record<Runtime, CancelResult>> = {};
let socketsAtEnd: ReturnType<typeof socketsToFakes>;
let serverStopMs = 0;
let fakeOpen: { anthropic_open_streams: number; openhands_open_sockets: number };
try {
  progress(`2/4 ${CONCURRENT} concurrent ${CONCURRENT_RUNTIME} executions…`);
  concurrent = await concurrentExecutions(server, tracker, sessionId, fakes, repo.dir);
  for (const runtime of CANCEL_RUNTIMES) {
    progress(`3/4 cancel → CANCELLED, ${runtime}…`);
    const side = runtime === 'goose' ? await gooseServer() : main;
    cancel[runtime] = await cancelLatency(
      side.server,
      side.tracker,
      side.sessionId,
      fakes,
      goose,
      runtime,
      goosePids,
    );
  }
  socketsAtEnd = socketsToFakes(fakes.ports);
  fakeOpen = {
    anthropic_open_streams: fakes.claude.openStreams,
    openhands_open_sockets: fakes.openhands.openSockets,
  };
} finally {
  await notifier.close();
  await gooseSide?.notifier.close();
  await gooseSide?.server.stop();
  const stopping = performance.now();
  await server.stop();
  serverStopMs = Math.round(performance.now() - stopping);
}

progress('4/4 leaks…');
// Idle keep-alive connections are closed by the fakes after 5 s; anything open after that is a leak.
const idleStarted = performance.now();
let socketsAfterIdle = socketsToFakes(fakes.ports);
while (socketsAfterIdle.total > 0 && performance.now() - idleStarted < KEEPALIVE_WAIT_MS) {
  await sleep(250);
  socketsAfterIdle = socketsToFakes(fakes.ports);
}
const socketsGoneMs = socketsAfterIdle.total === 0 ? Math.round(performance.now() - idleStarted) : null;
const processes = leakedProcesses(workspacesDir, goosePids);
const leaks = {
  processes: processes.length,
  process_details: processes,
  goose_pids_checked: goosePids.length,
  fake_reported: fakeOpen,
  sockets_to_fakes_right_after: socketsAtEnd,
  sockets_to_fakes_after_keepalive: socketsAfterIdle,
  sockets_gone_after_ms: socketsGoneMs,
  /** server.stop() waits for the worker's active jobs: a long stop means runners were left running. */
  server_stop_ms: serverStopMs,
};
await fakes.claude.close();
await fakes.openai.close();
await fakes.ollama.close();
await fakes.openhands.close();
await goose.remove();
await repo.remove();
await rm(workspacesDir, { recursive: true, force: true });

const TARGET_TURN_P50_MS = 5;
const cancelTarget = (r: Runtime) => (r === 'goose' || r === 'opendevin' ? 3000 : 1000);
const zeroLeaks =
  leaks.processes === 0 &&
  leaks.sockets_to_fakes_after_keepalive.total === 0 &&
  fakeOpen.anthropic_open_streams === 0 &&
  fakeOpen.openhands_open_sockets === 0;
const results = {
  run: runId,
  node: process.version,
  duration_s: Math.round((performance.now() - benchStarted) / 100) / 10,
  notes: [
    'per_tool_turn: the tool loop driven directly (no worker, no database), fakes in this process; wall time ' +
      'per turn includes the loopback HTTP round trip, the SDK and the fake; model_call is the time inside ' +
      'ChatModel.turn, loop_and_tools the rest (usage/tool_call/tool_result events, read_file, the loop).',
    'concurrent: memory is this whole process (server, worker, fakes, bench client); the fake request log ' +
      'is emptied while sampling so it does not count.',
    'cancel: from POST …/cancel to the CANCELLED change notification (sent after the state row commits); ' +
      "goose's on a second server with SANDBOX=off, as runtime-goose.test.ts, since its fake lives outside the workspace.",
  ],
  settings: {
    runs: RUNS,
    turns_per_run: TURNS,
    concurrent: CONCURRENT,
    concurrent_turns: CONCURRENT_TURNS,
    cancel_samples: CANCEL_SAMPLES,
    backend: BACKEND,
  },
  per_tool_turn: turns,
  concurrent,
  cancel_to_cancelled: cancel,
  leaks,
  targets: {
    turn_p50_ms: TARGET_TURN_P50_MS,
    cancel_p99_ms: Object.fromEntries(ALL_RUNTIMES.map((r) => [r, cancelTarget(r)])),
    zero_leaks: zeroLeaks,
  },
};
await writeFile(join(resultsDir, `runtimes-${runId}.json`), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(join(resultsDir, 'runtimes-latest.json'), `${JSON.stringify(results, null, 2)}\n`);

const ok = (cond: boolean) => (cond ? 'meets target' : 'MISSES target');
const f = (n: number) => n.toFixed(2);
console.log(`\nCoderClawLink runtimes benchmark (${runId}, ${results.duration_s} s)`);
console.log(`  wall time per tool turn (read_file; loop driven directly; ${RUNS}×${TURNS - 1} turns each):`);
for (const kind of ['null', ...API_RUNTIMES] as const) {
  const t = turns[kind];
  if (!t) continue;
  const label = kind === 'null' ? 'null model (loop + tools floor)' : `${kind} via its fake + SDK`;
  console.log(
    `    ${label.padEnd(32)} p50 ${f(t.wall.p50_ms)} ms, p99 ${f(t.wall.p99_ms)} ms` +
      ` (model call p50 ${f(t.model_call.p50_ms)} ms, loop+tools p50 ${f(t.loop_and_tools.p50_ms)} ms)` +
      ` — ${ok(t.wall.p50_ms < TARGET_TURN_P50_MS)} (p50 < ${TARGET_TURN_P50_MS} ms)`,
  );
}
console.log(
  '    (API runtimes: wall time includes the loopback HTTP round trip, the SDK and the fake itself)',
);
const c = concurrent.completion;
const h = concurrent.held;
console.log(
  `  ${CONCURRENT} concurrent ${concurrent.runtime} executions on one worker (${BACKEND}, WORKER_CONCURRENCY=${CONCURRENT}):`,
);
console.log(
  `    run to the end: ${(c.wall_ms / 1000).toFixed(1)} s wall, ${c.read_file_turns_total} tool turns, ${c.events_recorded} events recorded, peak ${c.peak_running} running, ` +
    `end states ${JSON.stringify(c.end_states)} — ${ok(c.all_completed)} (all COMPLETED)`,
);
console.log(
  `      per execution: PLANNING (checkout + plan) p50 ${(c.planning_phase.p50_ms / 1000).toFixed(1)} s, ` +
    `RUNNING p50 ${(c.running_phase.p50_ms / 1000).toFixed(1)} s; peak RSS +${c.memory.peak_rss_growth_mb} MB, ` +
    `peak heap +${c.memory.peak_heap_growth_mb} MB (garbage included)`,
);
console.log(
  `    held mid-run: ${h.running_when_measured} running, live RSS ${h.memory.rss_per_running_execution_kb} KB and ` +
    `live heap ${h.memory.heap_per_running_execution_kb} KB per running execution`,
);
console.log(
  `    cancel all ${CONCURRENT} at once → CANCELLED: p50 ${h.cancel_all.p50_ms.toFixed(0)} ms, p99 ${h.cancel_all.p99_ms.toFixed(0)} ms, ` +
    `${h.cancel_all.cancelled}/${CONCURRENT} CANCELLED — ${h.cancel_all.all_cancelled && h.cancel_all.p99_ms < 1000 ? 'within' : 'OVER'} 1 s (no target: a burst; the target is per cancel, below)`,
);
console.log(
  `      of which: POST answered p50 ${h.cancel_all.request.p50_ms.toFixed(0)} ms, p99 ${h.cancel_all.request.p99_ms.toFixed(0)} ms; ` +
    `answer → CANCELLED p50 ${h.cancel_all.answer_to_cancelled.p50_ms.toFixed(0)} ms, p99 ${h.cancel_all.answer_to_cancelled.p99_ms.toFixed(0)} ms`,
);
const signs = (r: Awaited<ReturnType<typeof rerunSigns>>) =>
  `${r.attempts['2'] ?? 0} second attempts, ${r.failures.reduce((n, f) => n + f.count, 0)} FAILED, ` +
  `${r.executions_run_more_than_once} run twice, ${r.jobs_still_active} jobs still active after their execution ended`;
console.log(`    consistency: run to the end: ${signs(c.rerun_signs)}`);
console.log(
  `                 held: ${signs(h.rerun_signs)}, ${h.fake_open_streams_after ?? '?'} provider streams left open`,
);
for (const failure of [...c.rerun_signs.failures, ...h.rerun_signs.failures].slice(0, 3)) {
  console.log(`      FAILED ×${failure.count}: ${failure.error}`);
}
for (const runtime of ALL_RUNTIMES) {
  const r = cancel[runtime];
  if (!r) continue;
  const target = cancelTarget(runtime);
  const problems = r.problems.length
    ? ` [${r.problems.length} problems: ${r.problems.slice(0, 2).join('; ')}]`
    : '';
  console.log(
    `  cancel → CANCELLED ${runtime.padEnd(9)}: p50 ${r.p50_ms.toFixed(1)} ms, p99 ${r.p99_ms.toFixed(1)} ms over ${r.samples}` +
      ` — ${ok(r.p99_ms < target && r.samples >= CANCEL_SAMPLES && r.problems.length === 0)} (p99 < ${target} ms)${problems}`,
  );
}
console.log(
  `  leaks: ${leaks.processes} processes, ${leaks.sockets_to_fakes_after_keepalive.total} sockets to the fakes after the keep-alive time ` +
    `(${leaks.sockets_to_fakes_right_after.total} right after the runs), fakes report ${fakeOpen.anthropic_open_streams} open streams ` +
    `and ${fakeOpen.openhands_open_sockets} open event sockets — ${ok(zeroLeaks)} (zero)`,
);
console.log(
  `  server.stop() took ${(serverStopMs / 1000).toFixed(1)} s (it waits for the worker's active jobs)`,
);
console.log(`  figures: bench/results/runtimes-${runId}.json\n`);
process.exit(0);
