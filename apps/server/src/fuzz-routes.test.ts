import { randomBytes } from 'node:crypto';
import { hashToken } from '@ccl/core';
import { type FakeTelegram, startFakeTelegram } from '@ccl/testing';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { changedTables, type Fingerprinter, fingerprinter } from './test-support/db-fingerprint.ts';
import { deepJson, type Hints, type JsonSchema, validValue } from './test-support/openapi-arbitraries.ts';
import {
  fill,
  type Operation,
  operationsOf,
  type Req,
  requestArb,
  routeSeed,
  safeEncode,
} from './test-support/openapi-requests.ts';
import { STACK_LINE } from './test-support/run-cli.ts';
import { botToken } from './test-support/telegram-fixture.ts';
import { type Json, startTestServer, type TestServer } from './test-support/test-server.ts';

/** Fixed so a failure reproduces; FUZZ_SEED=<n> explores elsewhere, FUZZ_RUNS=<n> goes deeper. */
const SEED = Number(process.env.FUZZ_SEED ?? 20_250_501);
const RUNS = Number(process.env.FUZZ_RUNS ?? 50);
const ANSWER_WITHIN_MS = 10_000;

/** Fields no body may set: owners, roles, states, ids, timestamps, counters and hashes. */
const MALLORY = 'mallory';
const FORGED_ID = '6f1c1d5e-0000-4000-8000-00000000f00d';
const FORGED_HASH = 'forged-hash-0123456789abcdef';
const FORGED_DATE = '2001-02-03T04:05:06.000Z';
const FORGED_ATTEMPTS = 424_242;
const FORGED: Record<string, unknown> = {
  id: FORGED_ID,
  user_id: MALLORY,
  userId: MALLORY,
  owner: MALLORY,
  owner_id: MALLORY,
  creator_id: MALLORY,
  creatorId: MALLORY,
  created_by: MALLORY,
  createdBy: MALLORY,
  decided_by: MALLORY,
  role: 'ADMIN',
  role_name: 'ADMIN',
  roleName: 'ADMIN',
  state: 'completed',
  permissions: ['user:manage', 'apikey:manage'],
  created_at: FORGED_DATE,
  createdAt: FORGED_DATE,
  attempts: FORGED_ATTEMPTS,
  token_hash: FORGED_HASH,
  tokenHash: FORGED_HASH,
  key_hash: FORGED_HASH,
  keyHash: FORGED_HASH,
  password_hash: FORGED_HASH,
  disabled: true,
  builtin: true,
};

describe('every route, fuzzed from the OpenAPI document', () => {
  let server: TestServer;
  let telegram: FakeTelegram;
  let fp: Fingerprinter;
  let ops: Operation[];
  let current: Record<string, string>;
  const callers: Record<string, Record<string, string>> = { local: {} };
  /** Answers per route and status, printed with FUZZ_VERBOSE=1 to see how deep the inputs get. */
  const statuses: Record<string, Record<number, number>> = {};
  const hints: Hints = {};
  const pathHints: Hints = {};

  const send = async (req: Omit<Req, 'mode'>, op: Pick<Operation, 'method'>) => {
    const answer = server.inject({
      method: op.method as 'GET',
      url: req.url,
      headers: {
        ...callers[req.caller],
        ...(req.contentType !== undefined ? { 'content-type': req.contentType } : {}),
      },
      ...(req.body !== undefined ? { payload: req.body } : {}),
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no answer within ${ANSWER_WITHIN_MS} ms`)),
        ANSWER_WITHIN_MS,
      );
    });
    try {
      return await Promise.race([answer, timeout]);
    } finally {
      clearTimeout(timer);
    }
  };
  const json = async (caller: string, method: string, url: string, body?: unknown) => {
    const res = await send(
      {
        caller,
        url,
        body: body === undefined ? undefined : JSON.stringify(body),
        contentType: body === undefined ? undefined : 'application/json',
      },
      { method },
    );
    if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${res.body}`);
    return JSON.parse(res.body) as Json;
  };

  /** What is wrong with the answer to `req`, or null. Updates the fingerprint as it goes. */
  async function problemWith(op: Operation, req: Req): Promise<string | null> {
    const res = await send(req, op);
    const seen = statuses[op.key] ?? {};
    statuses[op.key] = seen;
    seen[res.statusCode] = (seen[res.statusCode] ?? 0) + 1;
    if (process.env.FUZZ_VERBOSE && req.mode === 'valid' && res.statusCode === 400) {
      console.info(op.key, res.body.slice(0, 200));
    }
    if (res.statusCode >= 500) return `answered ${res.statusCode}: ${res.body.slice(0, 300)}`;
    const after = await fp.take();
    const changed = changedTables(current, after);
    current = after;
    if (res.statusCode < 400) return null;
    let body: Json;
    try {
      body = JSON.parse(res.body);
    } catch {
      return `answered ${res.statusCode} with a body that is not JSON: ${res.body.slice(0, 200)}`;
    }
    if (typeof body?.error !== 'string' || typeof body?.message !== 'string') {
      return `answered ${res.statusCode} without {error, message}: ${res.body.slice(0, 200)}`;
    }
    if (body.message.length > 2000)
      return `answered ${res.statusCode} with a ${body.message.length}-char message`;
    if (STACK_LINE.test(body.message) || /\.[cm]?[jt]s:\d+/.test(body.message)) {
      return `answered ${res.statusCode} with a stack trace: ${body.message.slice(0, 300)}`;
    }
    if (changed.length) return `answered ${res.statusCode} (${body.error}) but changed ${changed.join(', ')}`;
    return null;
  }

  beforeAll(async () => {
    telegram = await startFakeTelegram({ token: botToken() });
    // role api: no worker, so nothing changes the database behind a request's back (runs stay PENDING).
    server = await startTestServer({
      backend: 'postgres',
      role: 'api',
      env: {
        SECRETS_KEY: randomBytes(32).toString('base64'),
        SECRETS_KEY_ID: 'fuzz',
        // The webhook's signature check is what hostile bodies meet (unconfigured, it answers 503 by design).
        GITHUB_WEBHOOK_SECRET: randomBytes(16).toString('hex'),
        // Likewise the Telegram webhook's secret token (a bot against a loopback fake).
        TELEGRAM_BOT_TOKEN: telegram.token,
        TELEGRAM_API_ROOT: telegram.url,
      },
    });
    const adminToken = /token: (ccl_\S+)/.exec(server.output())?.[1];
    if (!adminToken) throw new Error(`no first-admin token in: ${server.output()}`);
    callers.admin = { authorization: `Bearer ${adminToken}` };
    const viewerToken = `ccl_${randomBytes(18).toString('base64url')}`;
    await server.prisma.user.create({
      data: { id: 'viewer', roleName: 'VIEWER', tokenHash: hashToken(viewerToken) },
    });
    callers.viewer = { authorization: `Bearer ${viewerToken}` };
    // A real user, so a forged owner would satisfy the foreign key and show up in the rows.
    await server.prisma.user.create({ data: { id: MALLORY, roleName: 'VIEWER' } });

    const sessions = [
      (await json('local', 'POST', '/api/runtime/sessions')).session_id as string,
      (await json('local', 'POST', '/api/runtime/sessions?user_id=viewer')).session_id as string,
    ];
    const submitted = await json('local', 'POST', '/api/runtime/tasks/submit', {
      agent_type: 'echo',
      prompt: 'fixture',
      context: {},
      session_id: sessions[0],
    });
    const card = await json('local', 'POST', '/api/tasks', { title: 'fixture card' });
    await json('admin', 'POST', '/api/projects', { slug: 'fuzz-proj' });
    await json('admin', 'PUT', '/api/projects/fuzz-proj/secrets/GITHUB_TOKEN', { value: 'fixture-secret' });
    const key = await json('admin', 'POST', '/api/keys', { name: 'fixture key' });
    const uuids = [submitted.task_id, submitted.execution_uuid, card.id, key.id] as string[];

    hints.session_id = fc.constantFrom(...sessions);
    hints.agent_type = fc.constantFrom('echo', 'general-purpose', 'claude', 'skynet');
    hints.project = fc.constantFrom('inbox', 'fuzz-proj', 'missing');
    hints.user_id = fc.constantFrom('admin', 'viewer', 'local', 'nobody');
    pathHints.id = fc.constantFrom(...uuids);
    pathHints.task_id = fc.constantFrom(submitted.task_id as string, card.id as string);
    pathHints.slug = fc.constantFrom('inbox', 'fuzz-proj');
    pathHints.name = fc.constantFrom('GITHUB_TOKEN', 'ANTHROPIC_API_KEY');

    ops = operationsOf(await json('local', 'GET', '/docs/json'));
    fp = await fingerprinter(server.prisma);
    current = await fp.take();
    console.info(`fuzz-routes: FUZZ_SEED=${SEED} FUZZ_RUNS=${RUNS}, ${ops.length} operations`);
  }, 60_000);
  afterAll(async () => {
    await server?.stop();
    await telegram?.close();
  });

  it('finds the routes and the tables to watch', () => {
    expect(ops.length).toBeGreaterThan(20);
    expect(fp.tables).toEqual(
      expect.arrayContaining(['tasks', 'executions', 'projects', 'users', 'api_keys']),
    );
  });

  it('never answers 5xx; every 4xx is a short {error, message} and changes nothing', async () => {
    const failures: string[] = [];
    for (const op of ops) {
      // The board stream takes no input at all: there is nothing to refuse, and a valid request never ends.
      if (op.streaming && op.params.length === 0) continue;
      const seed = routeSeed(SEED, op.key);
      const arb = requestArb(op, Object.keys(callers), hints, pathHints, Object.keys(FORGED));
      const details = await fc.check(
        fc.asyncProperty(arb, async (req) => {
          const problem = await problemWith(op, req);
          if (problem) throw new Error(problem);
        }),
        { numRuns: op.streaming ? 10 : RUNS, seed, endOnFailure: true },
      );
      if (details.failed) {
        const error =
          details.errorInstance instanceof Error ? details.errorInstance.message : details.errorInstance;
        const example = JSON.stringify(details.counterexample?.[0])?.slice(0, 600);
        failures.push(`${op.key}: ${error}\n    seed ${seed} (FUZZ_SEED=${SEED}), request ${example}`);
      }
    }
    if (process.env.FUZZ_VERBOSE) {
      for (const [key, seen] of Object.entries(statuses)) console.info(key, JSON.stringify(seen));
    }
    expect(failures, failures.join('\n')).toEqual([]);
  }, 240_000);

  it('bodies cannot set owner, role, state, ids, timestamps or hashes', async () => {
    // The check itself must see a forged owner, or a pass would mean nothing.
    const planted = await server.prisma.project.create({
      data: { slug: 'planted', name: 'planted', createdBy: MALLORY },
    });
    expect(await forgedTraces()).toEqual(['projects.created_by']);
    await server.prisma.project.delete({ where: { id: planted.id } });
    expect(await forgedTraces()).toEqual([]);

    const users = await fp.take();
    const problems: string[] = [];
    const writes = ops.filter((o) => ['POST', 'PUT', 'PATCH'].includes(o.method) && o.body?.properties);
    expect(writes.length).toBeGreaterThan(5);
    for (const op of writes) {
      const declared = op.body?.properties ?? {};
      const forged = Object.entries(FORGED).filter(([k]) => !(k in declared));
      const samples = fc.sample(validValue(op.body as JsonSchema, hints), {
        seed: routeSeed(SEED, op.key),
        numRuns: 4,
      });
      const segments = fc.sample(
        fc.tuple(
          ...op.params
            .filter((p) => p.in === 'path')
            .map((p) => (pathHints[p.name] ?? validValue(p.schema)).map(safeEncode)),
        ),
        { seed: routeSeed(SEED, op.key), numRuns: samples.length },
      );
      for (const caller of Object.keys(callers)) {
        for (const [i, sample] of samples.entries()) {
          const body = { ...(sample as Record<string, unknown>), ...Object.fromEntries(forged) };
          const req = {
            caller,
            url: fill(op.path, segments[i] ?? []),
            body: JSON.stringify(body),
            contentType: 'application/json',
          };
          const res = await send(req, op);
          if (res.statusCode >= 500) problems.push(`${op.key} as ${caller}: ${res.statusCode} ${res.body}`);
          const traces = await forgedTraces();
          if (traces.length) {
            problems.push(
              `${op.key} as ${caller} answered ${res.statusCode} and stored ${traces.join(', ')}`,
            );
          }
        }
      }
    }
    expect(problems, problems.join('\n')).toEqual([]);
    const after = await fp.take();
    expect(after.users).toBe(users.users);
    expect(after.roles).toBe(users.roles);
  }, 120_000);

  describe('what fuzzing found', () => {
    it('an over-long path parameter gets a short 414, not the path echoed back', async () => {
      const res = await send(
        {
          caller: 'admin',
          url: `/api/projects/${'x'.repeat(100_000)}/secrets`,
          body: undefined,
          contentType: undefined,
        },
        { method: 'GET' },
      );
      expect(res.statusCode).toBe(414);
      expect(JSON.parse(res.body)).toEqual({
        error: 'uri_too_long',
        message: 'a path parameter is too long',
      });
    });

    it('a path that is not valid percent-encoding gets a short 400 in our shape', async () => {
      const res = await send(
        {
          caller: 'admin',
          url: `/api/tasks/%E0%A4%A${'y'.repeat(5000)}`,
          body: undefined,
          contentType: undefined,
        },
        { method: 'GET' },
      );
      expect(res.statusCode).toBe(400);
      expect(JSON.parse(res.body)).toEqual({
        error: 'bad_request',
        message: 'the URL is not validly percent-encoded',
      });
    });

    it.each([
      [
        'NUL in a text field',
        'POST',
        '/api/tasks',
        { title: 'a\u0000b' },
        /body\.title: text must not contain NUL/,
      ],
      [
        'an unpaired surrogate in jsonb metadata',
        'POST',
        '/api/tasks',
        { title: 'ok', prompt: 'p', agent_type: 'echo', context: { note: 'x\ud800' } },
        /body\.context\.note: text must not contain NUL characters or unpaired surrogates/,
      ],
      [
        'NUL in a metadata key',
        'POST',
        '/api/runtime/tasks/submit',
        { agent_type: 'echo', prompt: 'p', context: { 'a\u0000': 1 } },
        /body\.context: keys must not/,
      ],
      [
        'NUL in a sign-in user id',
        'POST',
        '/api/auth/login',
        { user_id: 'a\u0000', password: 'x' },
        /body\.user_id/,
      ],
      ['NUL in a query filter', 'GET', '/api/audit/events?actor=a%00b', undefined, /querystring\.actor/],
      [
        'NUL in a runtime session query',
        'POST',
        '/api/runtime/sessions?device_id=d%00',
        undefined,
        /querystring\.device_id/,
      ],
      [
        'metadata nested 5000 levels deep',
        'POST',
        '/api/tasks',
        { title: 'deep', prompt: 'p', agent_type: 'echo', context: { d: 'DEEP' } },
        /nested more than 64 levels deep/,
      ],
    ])('%s is refused with 400 before anything is written', async (_name, method, url, body, message) => {
      const before = await fp.take();
      const text = body === undefined ? undefined : JSON.stringify(body).replace('"DEEP"', deepJson(5000));
      const res = await send(
        {
          caller: 'admin',
          url,
          body: text,
          contentType: text === undefined ? undefined : 'application/json',
        },
        { method },
      );
      expect(res.statusCode, res.body).toBe(400);
      expect(JSON.parse(res.body).message).toMatch(message);
      expect(changedTables(before, await fp.take())).toEqual([]);
    });
  });

  /** Columns in which a forged value ended up ("table.column"). */
  async function forgedTraces(): Promise<string[]> {
    const columns = await server.prisma.$queryRawUnsafe<Array<{ table_name: string; column_name: string }>>(
      `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'`,
    );
    const checks: string[] = [];
    for (const { table_name: t, column_name: c } of columns) {
      if (!fp.tables.includes(t)) continue;
      const col = `"${c}"`;
      const label = `'${t}.${c}'`;
      if ((c === 'id' && t !== 'users') || /(_id|_by|_hash|role_name)$/.test(c)) {
        checks.push(
          `SELECT ${label} FROM "${t}" WHERE ${col}::text IN ('${MALLORY}', '${FORGED_ID}', '${FORGED_HASH}')`,
        );
      }
      if (c === 'created_at') checks.push(`SELECT ${label} FROM "${t}" WHERE ${col} < '2002-01-01'`);
      if (c === 'attempts') checks.push(`SELECT ${label} FROM "${t}" WHERE ${col} = ${FORGED_ATTEMPTS}`);
      // Without a worker no run gets anywhere on its own: a finished one was forged.
      if (t === 'executions' && c === 'state')
        checks.push(`SELECT ${label} FROM "${t}" WHERE ${col} = 'COMPLETED'`);
    }
    const rows = await server.prisma.$queryRawUnsafe<Array<{ '?column?': string }>>(
      checks.map((q) => `(${q} LIMIT 1)`).join(' UNION ALL '),
    );
    return rows.map((r) => Object.values(r)[0] as string);
  }
});
