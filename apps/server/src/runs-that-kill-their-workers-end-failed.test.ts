import { setTimeout as sleep } from 'node:timers/promises';
import { reconcileExecutions } from '@ccl/core';
import { afterAll, describe, expect, it } from 'vitest';
import { CliProcess, cliEnv, killAllCli, makeTempDir, removeTempDir } from './test-support/run-cli.ts';
import {
  BACKENDS,
  type Backend,
  type Deployment,
  startDeployment,
  startTestServer,
  submitEcho,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

const LIMIT = 3;
const lossError = (n: number) =>
  `its worker stopped ${n} times while running it, each time before the run got any further (EXECUTION_MAX_WORKER_LOSSES); not trying again`;

/** Terminal transitions of a run, in its events and in the audit log. */
async function terminalTransitions(server: TestServer, executionId: string) {
  const events = await server.prisma.$queryRaw<Array<{ to: string }>>`
    SELECT data->>'to' AS to FROM execution_events
    WHERE execution_id = ${executionId}::uuid AND type = 'state'
      AND data->>'to' IN ('completed', 'failed', 'cancelled')`;
  const audits = await server.prisma.$queryRaw<Array<{ to: string }>>`
    SELECT detail->>'to' AS to FROM audit_events
    WHERE action = 'execution.transition' AND resource_id = ${executionId}
      AND detail->>'to' IN ('completed', 'failed', 'cancelled')`;
  return { events: events.map((e) => e.to), audits: audits.map((a) => a.to) };
}

const countEvents = (server: TestServer, executionId: string, type: string) =>
  server.prisma.executionEvent.count({ where: { executionId, type } });

/**
 * A poison run (one that kills every worker that runs it: an agent that takes the process down)
 * came back forever once a dying worker stopped using up attempts. Now each pickup that finds the
 * previous holder gone is counted on the execution, and at EXECUTION_MAX_WORKER_LOSSES in a row
 * without the run getting further (a checkpoint) it ends.
 */
describe.each<Backend>(BACKENDS)('a run whose workers keep dying (%s queue)', (backend) => {
  const queueName = `losses-${backend}-${Date.now()}`;
  let api: TestServer;
  let dataDir: string;
  afterAll(async () => {
    await killAllCli();
    await api?.stop();
    if (dataDir) await removeTempDir(dataDir);
  });

  /** A worker process of this deployment; resolves once it says it started. */
  async function startWorker(): Promise<CliProcess> {
    const worker = new CliProcess(
      ['start', '--role', 'worker'],
      cliEnv({
        DATABASE_URL: api.databaseUrl,
        ...(backend === 'redis' ? { REDIS_URL: api.deps.config.REDIS_URL ?? '' } : {}),
        QUEUE_NAME: queueName,
        DATA_DIR: dataDir,
        EXECUTION_MAX_WORKER_LOSSES: String(LIMIT),
        // A dead worker's jobs come back within a few seconds.
        QUEUE_LOCK_DURATION_S: '2',
        QUEUE_STALLED_CHECK_S: '1',
        LOG_LEVEL: 'info',
        LOG_FORMAT: 'json',
      }),
    );
    await waitFor(async () => worker.stdout.includes('"worker started"') || worker.exit, 30_000, 20);
    if (worker.exit) throw new Error(`the worker exited at start: ${worker.describe()}`);
    return worker;
  }

  const row = (id: string) => api.prisma.execution.findUniqueOrThrow({ where: { id } });

  /** Waits until `worker` holds each run (a pickup after `since`) and has run it a little, then kills it. */
  async function killWhileHolding(worker: CliProcess, ids: string[], since: Date) {
    for (const id of ids) {
      await waitFor(
        async () => {
          const r = await row(id);
          return r.state === 'RUNNING' && r.pickedUpAt !== null && r.pickedUpAt > since;
        },
        20_000,
        50,
      ).catch((err) => {
        throw new Error(`${(err as Error).message}: ${worker.describe()}`);
      });
    }
    await sleep(400);
    worker.signalGroup('SIGKILL');
    await worker.waitForExit(10_000);
    expect(worker.exit?.signal).toBe('SIGKILL');
  }

  it(`ends FAILED once, naming the cause, after its worker stopped ${LIMIT} times; a run killed fewer times, or getting further each time, completes`, async () => {
    api = await startTestServer({ backend, role: 'api', env: { QUEUE_NAME: queueName } });
    dataDir = await makeTempDir('losses');
    const submit = async (title: string, echo: Record<string, unknown>) =>
      (await submitEcho(api, 'losses', title, echo)).executionId;
    // Dies before its first step every time (the step would take ten minutes).
    const poison = await submit('poison', { steps: 2, delay_ms: 600_000 });
    // One step of 2.5 s, no checkpoint: dies twice before it ends, then a worker lets it finish.
    const survivor = await submit('survivor', { steps: 1, delay_ms: 2_500 });
    // 6 s of steps, a checkpoint after each: gets further on each worker that dies holding it.
    const progressing = await submit('progressing', { steps: 60, delay_ms: 100 });

    let since = new Date(0);
    for (let kill = 1; kill < LIMIT; kill++) {
      const worker = await startWorker();
      await killWhileHolding(worker, [poison, survivor, progressing], since);
      since = new Date();
    }
    // The next worker finishes the survivor, and dies running the other two once more.
    const third = await startWorker();
    await waitFor(async () => (await row(survivor)).state === 'COMPLETED', 30_000, 100);
    await killWhileHolding(third, [poison, progressing], since);

    const last = await startWorker();
    await waitFor(async () => (await row(poison)).state === 'FAILED', 30_000, 100);
    const failed = await row(poison);
    expect(failed.error).toBe(lossError(LIMIT));
    expect(failed.workerLosses).toBe(LIMIT);
    // A dying worker still uses none of the run's attempts; its job is done with, not retried.
    expect(failed.attempts).toBe(1);
    await waitFor(async () => (await api.deps.queue.state(poison)) === 'completed', 10_000);
    expect(await countEvents(api, poison, 'worker_lost')).toBe(LIMIT);

    const done = await row(survivor);
    expect(done.workerLosses).toBe(LIMIT - 1);
    expect(done.pickedUpAt).toBeNull();
    // Lost as often as the poison run, but further each time: not its doing.
    await waitFor(async () => (await row(progressing)).state === 'COMPLETED', 30_000, 100);
    expect(await countEvents(api, progressing, 'worker_lost')).toBe(LIMIT);

    // Nothing comes after the end: one terminal transition each, in the events and the audit log.
    await sleep(4_000);
    expect(await terminalTransitions(api, poison)).toEqual({ events: ['failed'], audits: ['failed'] });
    for (const id of [survivor, progressing])
      expect(await terminalTransitions(api, id)).toEqual({ events: ['completed'], audits: ['completed'] });
    expect((await row(poison)).workerLosses).toBe(LIMIT);
    last.signal('SIGTERM');
    await last.waitForExit(30_000);
  }, 180_000);
});

describe('what counts as a worker loss', () => {
  let deployment: Deployment | undefined;
  afterAll(async () => deployment?.stop());

  it("a shutdown's requeue and a parked run's wake do not count; a run the reconciler queues again after its worker died does", async () => {
    const env = { EXECUTION_MAX_WORKER_LOSSES: '1', SHUTDOWN_GRACE_S: '0', RECONCILE_INTERVAL_S: '3600' };
    deployment = await startDeployment('redis', env);
    const { api } = deployment;
    const worker = deployment.worker;
    const row = (id: string) => api.prisma.execution.findUniqueOrThrow({ where: { id } });
    const long = (await submitEcho(api, 'counts', 'long', { steps: 30, delay_ms: 100 })).executionId;
    const asks = (await submitEcho(api, 'counts', 'asks', { steps: 4, delay_ms: 10, ask_approval: true }))
      .executionId;

    // Two shutdowns while the long run runs: each puts it back on the queue, letting go of it.
    for (let shutdown = 1; shutdown <= 2; shutdown++) {
      const w = await worker();
      await waitFor(async () => (await countEvents(api, long, 'progress')) >= shutdown * 5, 20_000);
      await w.stopServer();
      expect(await countEvents(api, long, 'requeued')).toBe(shutdown);
      const r = await row(long);
      expect(r.pickedUpAt).toBeNull();
      expect(r.workerLosses).toBe(0);
    }
    expect((await row(asks)).state).toBe('WAITING');

    const last = await worker();
    // Woken by the decision: a new pickup, and no loss.
    const approved = await fetch(`${api.url}/api/executions/${asks}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'go on' }),
    });
    expect(approved.status).toBe(200);
    for (const id of [long, asks]) {
      await waitFor(async () => (await row(id)).state === 'COMPLETED', 20_000, 100);
      expect(await countEvents(api, id, 'worker_lost')).toBe(0);
      expect((await row(id)).workerLosses).toBe(0);
    }

    // A run as a dead worker leaves it (still marked as held, untouched for a while) whose job the
    // queue lost: the reconciler queues it again, and the pickup counts the loss, here the last one.
    const orphan = (await submitEcho(api, 'counts', 'orphan', { steps: 1, delay_ms: 1 })).executionId;
    await last.stopServer();
    expect(await api.deps.queue.remove(orphan)).toBe(true);
    const aMinuteAgo = new Date(Date.now() - 60_000);
    await api.prisma.execution.update({
      where: { id: orphan },
      data: { pickedUpAt: aMinuteAgo, updatedAt: aMinuteAgo },
    });
    const round = await reconcileExecutions(api.deps, { graceMs: 0 });
    expect(round.requeued).toEqual([orphan]);
    await worker();
    await waitFor(async () => (await row(orphan)).state === 'FAILED', 20_000, 100);
    expect((await row(orphan)).error).toBe(lossError(1));
    expect(await terminalTransitions(api, orphan)).toEqual({ events: ['failed'], audits: ['failed'] });
  }, 120_000);
});
