#!/usr/bin/env node
// Proves that `npm start` works from a fresh clone on a machine with only Node.js and npm:
// it installs, starts the embedded PostgreSQL and the Postgres queue backend, serves
// the CoderClaw contract, stops everything on Ctrl-C, and keeps its data for the next start;
// then `npm test` runs its checks and one test file there. Everything runs with a PATH that
// provably has no pnpm (a folder of links to node, npm, npx, git and basic system tools),
// whatever this machine has installed globally.
//
// Usage: node scripts/e2e-fresh-clone.mjs [repository]   (default: this repository)
// The clone holds the committed HEAD only; uncommitted changes are not tested.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, symlink } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

const READY_TIMEOUT_MS = 240_000;
const TEST_TIMEOUT_MS = 600_000;
/** What a machine with Node.js and npm has besides them: a shell and the basic tools. Never pnpm. */
const BARE_TOOLS = [
  'node',
  'npm',
  'npx',
  'git',
  'sh',
  'bash',
  'env',
  'id',
  'locale',
  'uname',
  'cat',
  'ls',
  'rm',
  'mkdir',
  'cp',
  'mv',
  'chmod',
  'chown',
  'ln',
  'sed',
  'grep',
  'tar',
  'gzip',
  'sleep',
  'dirname',
  'basename',
  'readlink',
  'realpath',
  'touch',
  'head',
  'tail',
  'sort',
  'tr',
  'cut',
  'find',
  'xargs',
  'ps',
  'kill',
  'which',
  'mktemp',
  'tee',
  'wc',
  'uniq',
  'date',
  'true',
  'false',
  'printf',
  'groupadd',
  'useradd',
];
const SYSTEM_DIRS = ['/usr/local/bin', '/usr/bin', '/bin', '/usr/sbin', '/sbin'];
const TASK_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 20_000;
const TOKEN_LINE = /^.*token: ccl_.*$/m;

const t0 = Date.now();
const clock = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s`;
const say = (message) => console.log(`[e2e ${clock()}] ${message}`);

/** The promise's value, or `null` once `ms` have passed; the timer never keeps the process alive after it settles. */
async function within(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, ms, null);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function step(label, fn) {
  const start = Date.now();
  say(`${label} …`);
  const value = await fn();
  say(`${label}: ok (${((Date.now() - start) / 1000).toFixed(1)} s)`);
  return value;
}

function git(args, cwd) {
  return execFileSync('git', args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Resolves true when something accepts a TCP connection on the port, false when it is refused. */
function isListening(port) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(2000);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      reject(new Error(`TCP connect to port ${port} timed out`));
    });
    socket.once('error', (err) => (err.code === 'ECONNREFUSED' ? resolve(false) : reject(err)));
  });
}

/** One `npm start` in its own process group, as a terminal would run it, so SIGINT reaches it like Ctrl-C. */
class Server {
  constructor(name, cwd, env) {
    this.name = name;
    this.stdout = '';
    this.output = '';
    this.exit = null;
    this.child = spawn('npm', ['start'], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.on('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.child.on('error', (err) => {
        this.exit = { code: null, signal: null, error: err };
        resolve(this.exit);
      });
    });
    this.child.stdout.setEncoding('utf8').on('data', (chunk) => {
      this.stdout += chunk;
      this.output += chunk;
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => {
      this.output += chunk;
    });
  }

  describeExit() {
    const { code, signal, error } = this.exit;
    return error ? `could not start: ${error.message}` : `exited with code ${code}, signal ${signal}`;
  }

  /** Also after npm itself exited: whatever it left behind in the group gets the signal too. */
  signalGroup(signal) {
    if (this.child.pid === undefined) return;
    try {
      process.kill(-this.child.pid, signal);
    } catch (err) {
      if (err.code !== 'ESRCH') throw err;
    }
  }

  async waitReady(baseUrl) {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (this.exit) throw new Error(`${this.name}: npm start ${this.describeExit()} before it was ready`);
      try {
        const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return;
        last = `HTTP ${res.status} ${(await res.text()).slice(0, 300)}`;
      } catch (err) {
        last = err.cause?.code ?? err.message;
      }
      await sleep(500);
    }
    throw new Error(
      `${this.name}: GET /readyz did not answer 200 within ${READY_TIMEOUT_MS / 1000} s (last: ${last})`,
    );
  }

  async interrupt() {
    this.signalGroup('SIGINT');
    const exit = await within(this.exited, STOP_TIMEOUT_MS);
    if (!exit) throw new Error(`${this.name}: still running ${STOP_TIMEOUT_MS / 1000} s after SIGINT`);
    if (exit.code !== 0)
      throw new Error(`${this.name}: after SIGINT npm start ${this.describeExit()}, expected code 0`);
  }
}

/** Calls the API the way CoderClaw's ClawLinkTransportAdapter does: JSON headers always, even without a body. */
async function call(baseUrl, method, path, body) {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 500)}`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(
      `${method} ${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 500)}`,
    );
  }
}

async function waitForCompletion(baseUrl, taskId) {
  const deadline = Date.now() + TASK_TIMEOUT_MS;
  const seen = [];
  while (Date.now() < deadline) {
    const state = await call(baseUrl, 'GET', `/api/runtime/tasks/${encodeURIComponent(taskId)}/state`);
    if (seen.at(-1) !== state.state) seen.push(state.state);
    if (state.state === 'completed') return seen;
    if (state.state === 'failed' || state.state === 'cancelled') {
      throw new Error(
        `task ${taskId} ended ${state.state} (error: ${state.error}); states seen: ${seen.join(' → ')}`,
      );
    }
    await sleep(250);
  }
  throw new Error(
    `task ${taskId} not completed within ${TASK_TIMEOUT_MS / 1000} s; states seen: ${seen.join(' → ')}`,
  );
}

async function expectPostgresStopped(dataDir) {
  // The embedded server may have fallen back from EMBEDDED_PG_PORT; postgres.json has the port it used.
  const { port } = JSON.parse(await readFile(join(dataDir, 'postgres.json'), 'utf8'));
  if (await isListening(port))
    throw new Error(`something still listens on the embedded PostgreSQL port ${port}`);
  return port;
}

/**
 * Processes still working inside `dir`: whatever `npm start` started, including its PostgreSQL
 * (whose working directory is its data dir), wherever they moved to another process group.
 * Linux only (/proc); elsewhere it finds nothing.
 */
function processesIn(dir) {
  let pids;
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return [];
  }
  const found = [];
  for (const pid of pids) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
      found.push({ pid: Number(pid), name: readFileSync(`/proc/${pid}/comm`, 'utf8').trim() });
    } catch {
      // Gone meanwhile, a zombie, or not ours to inspect.
    }
  }
  return found;
}

function killLeftovers(dir) {
  for (const { pid, name } of processesIn(dir)) {
    // SIGQUIT is PostgreSQL's immediate shutdown, which also releases its shared memory.
    const signal = name === 'postgres' ? 'SIGQUIT' : 'SIGKILL';
    try {
      process.kill(pid, signal);
      say(`sent ${signal} to leftover ${name} (pid ${pid})`);
    } catch {
      // Already gone.
    }
  }
}

/** A bin folder of links to BARE_TOOLS (where this machine has them), and proof that pnpm is not found through it. */
async function barePath(dir) {
  await mkdir(dir, { recursive: true });
  for (const tool of BARE_TOOLS) {
    const found = SYSTEM_DIRS.map((d) => join(d, tool)).find((p) => existsSync(p));
    if (found) await symlink(found, join(dir, tool));
  }
  const probe = spawnSync('sh', ['-c', 'command -v pnpm || echo none'], {
    env: { PATH: dir },
    encoding: 'utf8',
  });
  if (probe.stdout.trim() !== 'none')
    throw new Error(`pnpm is still found on the bare PATH: ${probe.stdout}`);
  const direct = spawnSync('pnpm', ['--version'], { env: { PATH: dir } });
  if (direct.error?.code !== 'ENOENT')
    throw new Error('spawning pnpm with the bare PATH did not fail with ENOENT');
  return dir;
}

/** `npm test -- <file>` in the clone: lint, typecheck (turbo, which needs pnpm on PATH), builds, one test file. */
function runTests(cwd, env, file) {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['test', '--', file], {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (output += chunk));
    const timer = setTimeout(() => process.kill(-child.pid, 'SIGKILL'), TEST_TIMEOUT_MS);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else
        reject(
          new Error(`npm test exited with ${code}:\n${output.trimEnd().split('\n').slice(-60).join('\n')}`),
        );
    });
  });
}

const scriptDir = dirname(fileURLToPath(import.meta.url));
const source = process.argv[2] ?? git(['rev-parse', '--show-toplevel'], scriptDir);
const servers = [];
let tmp = null;

function cleanUpNow() {
  for (const server of servers) server.signalGroup('SIGKILL');
  if (!tmp) return;
  killLeftovers(tmp);
  rmSync(tmp, { recursive: true, force: true, maxRetries: 5 });
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    say(`${signal}: cleaning up`);
    cleanUpNow();
    process.exit(1);
  });
}

async function main() {
  let commit;
  try {
    commit = git(['rev-parse', '--verify', 'HEAD'], source);
  } catch {
    throw new Error(`${source} has no commit to clone; the e2e tests the committed HEAD`);
  }
  say(`testing ${source} at ${commit.slice(0, 12)}`);

  // Real path, to compare with the working directories the kernel reports.
  tmp = await realpath(await mkdtemp(join(tmpdir(), 'ccl-e2e-')));
  // Run as root, the embedded PostgreSQL runs as the `postgres` user, which must reach its data dir and binaries.
  await chmod(tmp, 0o755);
  const repo = join(tmp, 'repo');
  const dataDir = join(tmp, 'data');
  await step(`git clone into ${repo}`, () => git(['clone', '--quiet', source, repo], tmp));

  const bin = await step('a PATH with node, npm, git and system tools but no pnpm', () =>
    barePath(join(tmp, 'bin')),
  );
  const pgPort = await freePort();
  const env = { ...process.env, PATH: bin, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort) };
  // The bare machine has no pnpm state either: nothing may come from this machine's pnpm setup.
  for (const name of Object.keys(env)) if (/^(PNPM_|npm_config_|COREPACK_)/i.test(name)) delete env[name];
  // The e2e is about the defaults: a developer's exported settings must not point it elsewhere.
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'HOST', 'DEFAULT_AGENT']) delete env[name];

  const start = async (name) => {
    const port = await freePort();
    const server = new Server(name, repo, { ...env, PORT: String(port) });
    servers.push(server);
    const baseUrl = `http://127.0.0.1:${port}`;
    await step(`${name}: npm start until GET ${baseUrl}/readyz answers 200`, () => server.waitReady(baseUrl));
    return { server, baseUrl };
  };
  const stop = async (server) => {
    await step(`${server.name}: SIGINT to the process group, exit 0 within ${STOP_TIMEOUT_MS / 1000} s`, () =>
      server.interrupt(),
    );
    const port = await step(`${server.name}: embedded PostgreSQL stopped`, () =>
      expectPostgresStopped(dataDir),
    );
    say(`  (nothing listens on ${port} any more)`);
    await step(`${server.name}: no process left running in the clone or its data`, async () => {
      const left = processesIn(tmp);
      if (left.length)
        throw new Error(`still running: ${left.map((p) => `${p.name} (pid ${p.pid})`).join(', ')}`);
    });
  };

  const first = await start('first run');
  const session = await step('POST /api/runtime/sessions without a body', async () => {
    const body = await call(first.baseUrl, 'POST', '/api/runtime/sessions');
    if (typeof body.session_id !== 'string' || !body.session_id) {
      throw new Error(`no session_id in ${JSON.stringify(body)}`);
    }
    return body;
  });
  const submitted = await step('POST /api/runtime/tasks/submit (general-purpose → echo)', async () => {
    const body = await call(first.baseUrl, 'POST', '/api/runtime/tasks/submit', {
      agent_type: 'general-purpose',
      prompt: 'hello',
      context: { description: 'e2e', echo: { steps: 2, delay_ms: 50 } },
      session_id: session.session_id,
    });
    if (body.state !== 'pending') throw new Error(`expected state "pending", got ${JSON.stringify(body)}`);
    return body;
  });
  const taskId = submitted.task_id;
  const states = await step(`poll task ${taskId} until completed`, () =>
    waitForCompletion(first.baseUrl, taskId),
  );
  say(`  states seen: ${states.join(' → ')}`);
  await step('GET /api/runtime/agents', async () => {
    const path = `/api/runtime/agents?session_id=${encodeURIComponent(session.session_id)}`;
    const agents = await call(first.baseUrl, 'GET', path);
    if (!Array.isArray(agents))
      throw new Error(`expected an array, got ${JSON.stringify(agents).slice(0, 300)}`);
    say(`  agents: ${agents.map((a) => a.agent_type).join(', ')}`);
  });
  await step('the first administrator token was printed', async () => {
    const line = TOKEN_LINE.exec(first.server.stdout);
    if (!line) throw new Error('stdout has no line with "token: ccl_"');
    say(`  ${line[0].trim().replace(/ccl_\S+/, 'ccl_…')}`);
  });
  await stop(first.server);

  const second = await start('second run');
  await step(`task ${taskId} is still completed`, async () => {
    const state = await call(second.baseUrl, 'GET', `/api/runtime/tasks/${encodeURIComponent(taskId)}/state`);
    if (state.state !== 'completed') throw new Error(`expected completed, got ${JSON.stringify(state)}`);
  });
  await step('no new administrator token', async () => {
    if (TOKEN_LINE.test(second.server.stdout)) throw new Error('the second start printed a token again');
  });
  await stop(second.server);

  await step('npm test -- apps/server/src/dockerfile-runtime.test.ts (bare PATH)', async () => {
    const output = await runTests(
      repo,
      { ...env, CI: 'true', NO_COLOR: '1' },
      'apps/server/src/dockerfile-runtime.test.ts',
    );
    const summary = /Tests\s+\d+ passed[^\n]*/.exec(output);
    if (!summary) throw new Error(`npm test passed but printed no test summary:\n${output.slice(-2000)}`);
    say(`  ${summary[0].trim()}`);
  });
}

try {
  await main();
  say('PASSED');
} catch (err) {
  process.exitCode = 1;
  console.error(`\n[e2e ${clock()}] FAILED: ${err.message}`);
  for (const server of servers) {
    const tail = server.output.trimEnd().split('\n').slice(-80).join('\n');
    console.error(`\n--- last output of the ${server.name} (npm start) ---\n${tail}\n--- end ---`);
  }
} finally {
  for (const server of servers) server.signalGroup('SIGKILL');
  await Promise.all(servers.map((server) => within(server.exited, 5000)));
  if (tmp) {
    killLeftovers(tmp);
    await rm(tmp, { recursive: true, force: true, maxRetries: 5 });
  }
}
