import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CliProcess,
  cliEnv,
  freePort,
  isListening,
  killAllCli,
  makeTempDir,
  removeTempDir,
  runCli,
  STACK_LINE,
} from './test-support/run-cli.ts';

const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;
const TOKEN_LINE = /^\s*token: ccl_[A-Za-z0-9_-]{20,}$/m;
const UNAVAILABLE_AGENTS = ['claude', 'openai', 'ollama', 'opendevin', 'goose'];

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Waits for GET /readyz = 200, failing at once if the server exits first. */
async function waitReady(server: CliProcess, baseUrl: string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (server.exit) throw new Error(`the server exited before it was ready: ${server.describe()}`);
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(2_000) });
      // The line comes once the worker has started too, a moment after HTTP answers.
      if (res.status === 200 && server.stdout.includes('CoderClawLink is ready at')) return;
      last = `HTTP ${res.status} ${(await res.text()).slice(0, 300)}`;
    } catch (err) {
      last = String((err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message);
    }
    await sleep(250);
  }
  throw new Error(`GET /readyz not 200 within ${READY_TIMEOUT_MS} ms (last: ${last}): ${server.describe()}`);
}

/** `user list` lines → id → role. */
function rolesOf(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => line.trim().split(/\s+/).slice(0, 2)),
  );
}

describe('clawlink with the embedded PostgreSQL (no DATABASE_URL, no REDIS_URL)', () => {
  let tmp = '';
  let dataDir = '';
  let env: NodeJS.ProcessEnv;
  let baseUrl = '';
  let httpPort = 0;
  let server: CliProcess | undefined;
  /** The port the embedded PostgreSQL listens on (EMBEDDED_PG_PORT, or a fallback it recorded). */
  let pgPort = 0;
  let postmasterPid = '';

  const embeddedState = async () =>
    JSON.parse(await readFile(join(dataDir, 'postgres.json'), 'utf8')) as { port: number };
  const postmasterPidOf = async () =>
    (await readFile(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '';

  beforeAll(async () => {
    tmp = await makeTempDir('cli-embedded');
    dataDir = join(tmp, 'data');
    httpPort = await freePort();
    baseUrl = `http://127.0.0.1:${httpPort}`;
    env = cliEnv({
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await freePort()),
      PORT: String(httpPort),
    });
  });

  afterAll(async () => {
    server?.signalGroup('SIGKILL');
    await killAllCli();
    if (tmp) await removeTempDir(tmp);
  });

  it(
    'start initialises the database, answers /readyz and prints the admin token once',
    async () => {
      server = new CliProcess(['start'], env);
      await waitReady(server, baseUrl);
      expect(server.stdout, server.describe()).toMatch(TOKEN_LINE);
      expect(server.stdout).toMatch(/^\s*user:\s+admin$/m);
      expect(server.stdout.match(/token: ccl_/g)).toHaveLength(1);
      expect(server.stdout).toContain(`CoderClawLink is ready at http://localhost:${httpPort}`);

      pgPort = (await embeddedState()).port;
      expect(await isListening(pgPort)).toBe(true);
      postmasterPid = await postmasterPidOf();
      expect(postmasterPid).toMatch(/^\d+$/);
    },
    READY_TIMEOUT_MS + 30_000,
  );

  it('user add while the server runs uses the same embedded database', async () => {
    expect(server?.exit, server?.describe()).toBeNull();
    const res = await runCli(['user', 'add', 'carol', '--role', 'DEVELOPER'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stdout).toBe("user 'carol' has role DEVELOPER\n");
    expect(res.stderr, res.text).toBe('');

    // No second PostgreSQL: the server's postmaster still runs the cluster, on the same port.
    expect(await postmasterPidOf()).toBe(postmasterPid);
    expect((await embeddedState()).port).toBe(pgPort);
    expect(await isListening(pgPort)).toBe(true);
    expect(server?.exit, server?.describe()).toBeNull();
  });

  it('the running server opens a runtime session for carol', async () => {
    const res = await fetch(`${baseUrl}/api/runtime/sessions?user_id=carol`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    expect(res.status, text).toBe(200);
    const session = JSON.parse(text) as { user_id: string; session_id: string; permissions: string[] };
    expect(session.user_id).toBe('carol');
    expect(session.session_id).toEqual(expect.any(String));
    expect(session.permissions).toEqual(
      expect.arrayContaining(['task:submit', 'agent:execute', 'task:view']),
    );
  });

  it(
    'SIGINT stops the server with exit 0 within 20 s, and the embedded PostgreSQL with it',
    async () => {
      const running = server as CliProcess;
      expect(running.exit, running.describe()).toBeNull();
      running.signal('SIGINT');
      const exit = await running.waitForExit(STOP_TIMEOUT_MS);
      expect(exit, `no exit within ${STOP_TIMEOUT_MS} ms: ${running.describe()}`).not.toBeNull();
      expect(exit, running.describe()).toEqual({ code: 0, signal: null });
      expect(running.stderr).not.toMatch(STACK_LINE);
      expect(await isListening(pgPort)).toBe(false);
      await expect(postmasterPidOf()).rejects.toThrow(/ENOENT/);
    },
    STOP_TIMEOUT_MS + 10_000,
  );

  it(
    'SIGINT the moment /readyz answers, before its worker has started: it finishes starting, then stops with exit 0 and stops PostgreSQL',
    async () => {
      // /readyz answers once the listener is up; the worker starts after it. A Ctrl-C in between
      // once killed the process mid-start (exit 1, PostgreSQL left running).
      const early = new CliProcess(['start'], env);
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        if (early.exit || Date.now() > deadline) throw new Error(`never ready: ${early.describe()}`);
        const res = await fetch(`${baseUrl}/readyz`).catch(() => undefined);
        if (res?.status === 200) break;
        await sleep(5);
      }
      early.signal('SIGINT');
      const exit = await early.waitForExit(STOP_TIMEOUT_MS);
      expect(exit, `no exit within ${STOP_TIMEOUT_MS} ms: ${early.describe()}`).toEqual({
        code: 0,
        signal: null,
      });
      expect(early.stderr).not.toMatch(STACK_LINE);
      expect(await isListening(httpPort)).toBe(false);
      expect(await isListening(pgPort)).toBe(false);
      await expect(postmasterPidOf()).rejects.toThrow(/ENOENT/);
    },
    READY_TIMEOUT_MS + STOP_TIMEOUT_MS,
  );

  it('user list with the server stopped starts and stops the embedded database itself', async () => {
    const res = await runCli(['user', 'list'], env);
    expect(res.code, res.text).toBe(0);
    expect(res.stderr, res.text).toBe('');
    expect(rolesOf(res.stdout)).toMatchObject({ carol: 'DEVELOPER', local: 'DEVELOPER', admin: 'ADMIN' });
    expect(await isListening((await embeddedState()).port)).toBe(false);
  });

  it('doctor checks config, the embedded database, the Postgres queue backend and each agent', async () => {
    const res = await runCli(['doctor'], env);
    expect(res.code, res.text).toBe(0);
    const out = res.stdout;
    expect(out).toMatch(new RegExp(`^ ok \\s+config\\s+listening on 127\\.0\\.0\\.1:${httpPort}\\b`, 'm'));
    expect(out).toMatch(
      new RegExp(`^ ok \\s+database\\s+embedded PostgreSQL in ${escapeRegExp(dataDir)}$`, 'm'),
    );
    expect(out).toMatch(/^ ok \s+queue\s+BullMQ Postgres backend \(REDIS_URL unset\); jobs: \d+ waiting/m);
    expect(out).toMatch(/^ ok \s+agent echo\s+available$/m);
    // Agent commands run in bubblewrap here; where it cannot start the line says FAIL and why.
    expect(out).toMatch(/^ ok \s+sandbox\s+on \(bubblewrap at \/\S+\/bwrap\)$/m);
    for (const agent of UNAVAILABLE_AGENTS) {
      const line = new RegExp(`^FAIL\\s+agent ${agent}\\s+(.*)$`, 'm').exec(out);
      expect(line, `no FAIL line for agent ${agent}:\n${out}`).not.toBeNull();
      // A reason in words, not just the fallback "unavailable".
      expect(line?.[1]?.trim(), `agent ${agent} has no reason`).toMatch(/^\S.{8,}/);
    }
    expect(res.stderr).not.toMatch(STACK_LINE);
    expect(await isListening((await embeddedState()).port)).toBe(false);
  });
});
