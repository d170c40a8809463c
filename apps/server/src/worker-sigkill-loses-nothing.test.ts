import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CliProcess,
  cliEnv,
  killAllCli,
  makeTempDir,
  removeTempDir,
  runCli,
} from './test-support/run-cli.ts';
import {
  type Backend,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

const RUNS = 200;
const KILLS = 20;
const PROJECT = 'sigkill';

type Kind = 'plain' | 'approval' | 'fail';

/** A small deterministic generator, so that a failing run can be replayed with its seed. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1_664_525 + 1_013_904_223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Redis by default (a killed worker's jobs come back fastest there); SIGKILL_TEST_BACKENDS=redis,postgres for both. */
const backends = (process.env.SIGKILL_TEST_BACKENDS ?? 'redis').split(',') as Backend[];

/**
 * The fault test of "nothing lost, nothing twice": a worker process is killed with SIGKILL at
 * random moments (starting up, mid-run, mid-write, while runs wait for approval) while 200 echo
 * runs go through the queue, and a new worker takes over each time. Afterwards every run has ended
 * where it would have without the kills, each at most once, and the audit chain still verifies.
 */
describe.each<Backend>(backends)('workers killed with SIGKILL (%s queue)', (backend) => {
  const seed = Number(process.env.SIGKILL_TEST_SEED ?? Date.now() % 100_000);
  const rand = random(seed);
  const queueName = `sigkill-${Date.now()}`;
  let api: TestServer;
  let dataDir: string;
  let stopApproving = false;
  let approver: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    api = await startTestServer({ backend, role: 'api', env: { QUEUE_NAME: queueName } });
    dataDir = await makeTempDir('sigkill');
  });
  afterAll(async () => {
    stopApproving = true;
    await approver;
    await killAllCli();
    await api?.stop();
    if (dataDir) await removeTempDir(dataDir);
  });

  const workerEnv = () =>
    cliEnv({
      DATABASE_URL: api.databaseUrl,
      ...(backend === 'redis' ? { REDIS_URL: api.deps.config.REDIS_URL ?? '' } : {}),
      QUEUE_NAME: queueName,
      DATA_DIR: dataDir,
      WORKER_CONCURRENCY: '20',
      // A dead worker's jobs come back within a few seconds, and the reconciler looks often.
      QUEUE_LOCK_DURATION_S: '3',
      QUEUE_STALLED_CHECK_S: '1',
      RECONCILE_INTERVAL_S: '2',
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
    });

  /** A worker process; resolves once it says it started, or after `waitForStartMs` started or not. */
  async function startWorker(waitForStartMs: number): Promise<CliProcess> {
    const worker = new CliProcess(['start', '--role', 'worker'], workerEnv());
    const deadline = Date.now() + waitForStartMs;
    while (Date.now() < deadline && !worker.stdout.includes('"worker started"') && !worker.exit) {
      await sleep(20);
    }
    if (worker.exit) throw new Error(`the worker exited at start: ${worker.describe()}`);
    return worker;
  }

  async function submit(i: number, kind: Kind) {
    const echo = {
      steps: 2 + Math.floor(rand() * 5),
      delay_ms: 50 + Math.floor(rand() * 250),
      ...(kind === 'approval' ? { ask_approval: true } : {}),
      ...(kind === 'fail' ? { fail: true } : {}),
    };
    const res = await fetch(`${api.url}/api/tasks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        project: PROJECT,
        title: `run ${i}`,
        prompt: `run ${i}`,
        agent_type: 'echo',
        context: { echo },
      }),
    });
    expect(res.status).toBe(201);
    return (await readJson(res)).latest_execution.id as string;
  }

  /** Approves every run waiting for a decision, as a person watching the board would. */
  async function approveWhatWaits(ids: string[]) {
    while (!stopApproving) {
      const waiting = await api.prisma.execution.findMany({
        where: { id: { in: ids }, state: 'WAITING' },
        select: { id: true },
      });
      for (const { id } of waiting) {
        // 409 when it moved meanwhile (approved already, or its worker died and it asks again).
        await fetch(`${api.url}/api/executions/${id}/approve`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ comment: 'go on' }),
        }).catch(() => undefined);
      }
      await sleep(200);
    }
  }

  it(`ends each of ${RUNS} runs once, where it would have ended, through ${KILLS} SIGKILLs`, async () => {
    const started = Date.now();
    const kinds: Kind[] = Array.from({ length: RUNS }, (_, i) =>
      i % 10 === 0 ? 'fail' : i % 5 === 1 ? 'approval' : 'plain',
    );
    const ids: string[] = [];
    for (let i = 0; i < RUNS; i += 20) {
      ids.push(...(await Promise.all(kinds.slice(i, i + 20).map((kind, j) => submit(i + j, kind)))));
    }
    const expected = new Map(ids.map((id, i) => [id, kinds[i] === 'fail' ? 'FAILED' : 'COMPLETED']));
    approver = approveWhatWaits(ids);
    const unfinished = () =>
      api.prisma.execution.count({
        where: { id: { in: ids }, state: { notIn: ['COMPLETED', 'FAILED', 'CANCELLED'] } },
      });

    const runningAtKill: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      // Every fourth worker dies while it starts; the others after a random while at work.
      const startingUp = kill % 4 === 3;
      const worker = await startWorker(startingUp ? 300 + rand() * 1_200 : 30_000);
      if (!startingUp) await sleep(500 + rand() * 2_500);
      runningAtKill.push(
        await api.prisma.execution.count({
          where: { id: { in: ids }, state: { in: ['PLANNING', 'RUNNING', 'WAITING'] } },
        }),
      );
      worker.signalGroup('SIGKILL');
      await worker.waitForExit(10_000);
      expect(worker.exit?.signal, worker.describe()).toBe('SIGKILL');
    }
    const killsDone = Date.now();

    const last = await startWorker(30_000);
    await waitFor(async () => (await unfinished()) === 0, 150_000, 500).catch(async (err) => {
      // Say which runs did not end and where they stand, queue included, before failing.
      const stuck = await api.prisma.execution.findMany({
        where: { id: { in: ids }, state: { notIn: ['COMPLETED', 'FAILED', 'CANCELLED'] } },
        select: { id: true, state: true, heldReason: true, attempts: true, updatedAt: true },
      });
      const detail = await Promise.all(
        stuck.map(async (r) => {
          const events = await api.prisma.executionEvent.findMany({
            where: { executionId: r.id },
            orderBy: { seq: 'desc' },
            take: 4,
            select: { type: true, data: true },
          });
          return { ...r, job: await api.deps.queue.state(r.id), events };
        }),
      );
      throw new Error(`${(err as Error).message}; not ended: ${JSON.stringify(detail.slice(0, 5))}`);
    });
    stopApproving = true;
    await approver;
    last.signal('SIGTERM');
    await last.waitForExit(30_000);

    const rows = await api.prisma.execution.findMany({
      where: { id: { in: ids } },
      select: { id: true, state: true, error: true, attempts: true },
    });
    const wrong = rows
      .filter((r) => r.state !== expected.get(r.id))
      .map((r) => ({ id: r.id, state: r.state, expected: expected.get(r.id), error: r.error }));
    expect(wrong).toEqual([]);
    // Nothing twice: at most one COMPLETED transition per run, in its events and in the audit log.
    const completedEvents = await api.prisma.$queryRaw<Array<{ execution_id: string; n: number }>>`
      SELECT execution_id::text, count(*)::int AS n FROM execution_events
      WHERE type = 'state' AND data->>'to' = 'completed' AND execution_id = ANY(${ids}::uuid[])
      GROUP BY execution_id`;
    const completedAudits = await api.prisma.$queryRaw<Array<{ resource_id: string; n: number }>>`
      SELECT resource_id, count(*)::int AS n FROM audit_events
      WHERE action = 'execution.transition' AND detail->>'to' = 'completed' AND resource_id = ANY(${ids})
      GROUP BY resource_id`;
    const completedRuns = rows.filter((r) => r.state === 'COMPLETED').length;
    expect(completedEvents.filter((r) => r.n > 1)).toEqual([]);
    expect(completedAudits.filter((r) => r.n > 1)).toEqual([]);
    expect(completedEvents).toHaveLength(completedRuns);
    expect(completedAudits).toHaveLength(completedRuns);
    // Nothing lost: the database holds what was submitted, one run per card.
    const project = await api.prisma.project.findUniqueOrThrow({ where: { slug: PROJECT } });
    expect(await api.prisma.task.count({ where: { projectId: project.id } })).toBe(RUNS);
    expect(await api.prisma.execution.count({ where: { task: { projectId: project.id } } })).toBe(RUNS);
    // A dying worker used none of its runs' attempts.
    expect(rows.filter((r) => r.attempts > 1).map((r) => r.id)).toEqual([]);

    const verify = await runCli(
      ['audit', 'verify'],
      cliEnv({ DATABASE_URL: api.databaseUrl, LOG_LEVEL: 'warn' }),
    );
    expect(verify.code, verify.text).toBe(0);

    const requeued = await api.prisma.$queryRaw<Array<{ reason: string; n: number }>>`
      SELECT data->>'reason' AS reason, count(*)::int AS n FROM execution_events
      WHERE type = 'requeued' AND execution_id = ANY(${ids}::uuid[]) GROUP BY 1 ORDER BY 2 DESC`;
    const retried = await api.prisma.executionEvent.count({
      where: { executionId: { in: ids }, type: 'retry' },
    });
    console.info(
      `[sigkill ${backend}, seed ${seed}] ${KILLS} kills in ${killsDone - started} ms with ` +
        `${runningAtKill.join('/')} runs begun and not ended; all ${RUNS} ended ${Date.now() - killsDone} ms later; ` +
        `${retried} restarts of a run on a new worker; requeued by the reconciler: ${JSON.stringify(requeued)}`,
    );
  }, 300_000);
});
