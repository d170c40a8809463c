import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { type Deployment, startDeployment, submitEcho, waitFor } from './test-support/test-server.ts';

const TIMEOUT_S = 4;
const TIMEOUT_MS = TIMEOUT_S * 1000;

/**
 * EXECUTION_TIMEOUT_S is the run's own working time: it restarted at each pickup, so a run that
 * kept coming back never timed out; and a run parked for a person's decision must not time out
 * while nobody has answered (APPROVAL_TIMEOUT_S is that wait's limit).
 */
describe('EXECUTION_TIMEOUT_S', () => {
  let deployment: Deployment | undefined;
  afterAll(async () => deployment?.stop());

  const env = { EXECUTION_TIMEOUT_S: String(TIMEOUT_S), SHUTDOWN_GRACE_S: '0' };

  it('counts the time a run worked on each of its workers, and not the time it spent off them', async () => {
    deployment = await startDeployment('redis', env);
    const { api } = deployment;
    const worker = deployment.worker;
    const row = (id: string) => api.prisma.execution.findUniqueOrThrow({ where: { id } });
    const events = (id: string, type: string) =>
      api.prisma.executionEvent.findMany({ where: { executionId: id, type }, orderBy: { seq: 'asc' } });

    /** The row once its worker let go of it (just after its last transition). */
    const released = (id: string, state: string) =>
      waitFor(
        async () => {
          const r = await row(id);
          return r.state === state && r.pickedUpAt === null && r;
        },
        30_000,
        50,
      );

    // 8 s of work; a second or two of it on the first worker, which then shuts down.
    const long = (await submitEcho(api, 'clock', 'long', { steps: 80, delay_ms: 100 })).executionId;
    const first = await worker();
    await waitFor(async () => (await events(long, 'progress')).length >= 10, 30_000);
    await first.stopServer();
    const between = await released(long, 'RUNNING');
    expect(between.workedMs).toBeGreaterThanOrEqual(1_000);
    expect(between.workedMs).toBeLessThan(TIMEOUT_MS - 1_000);
    // Longer off any worker than the whole limit: that time is not the run's.
    await sleep(TIMEOUT_MS + 500);

    // A run that parks for a decision: half a second of work, then it waits longer than the limit.
    const asks = (await submitEcho(api, 'clock', 'asks', { steps: 10, delay_ms: 100, ask_approval: true }))
      .executionId;
    await worker();
    const failed = await released(long, 'FAILED');
    expect(failed.error).toBe(`timed out after ${TIMEOUT_S} s (EXECUTION_TIMEOUT_S)`);
    // The second worker gave it only what was left of the limit, not the whole of it again.
    const [resumed] = await events(long, 'resumed');
    const [end] = (await events(long, 'state')).slice(-1);
    expect(end?.data).toEqual({ from: 'running', to: 'failed' });
    const secondWorkerMs = (end?.createdAt.getTime() ?? 0) - (resumed?.createdAt.getTime() ?? 0);
    expect(secondWorkerMs).toBeLessThan(TIMEOUT_MS - between.workedMs + 300);
    expect(failed.workedMs).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(failed.workedMs).toBeLessThan(TIMEOUT_MS + 1_000);
    // Restarted at the second pickup, the limit would have let it do about 40 more steps.
    expect((await events(long, 'progress')).length).toBeLessThan(40);

    await waitFor(async () => (await row(asks)).state === 'WAITING', 20_000, 50);
    await sleep(TIMEOUT_MS + 500);
    expect((await row(asks)).state).toBe('WAITING');
    const approved = await fetch(`${api.url}/api/executions/${asks}/approve`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ comment: 'go on' }),
    });
    expect(approved.status).toBe(200);
    const done = await released(asks, 'COMPLETED');
    expect(done.workedMs).toBeGreaterThanOrEqual(1_000);
    expect(done.workedMs).toBeLessThan(TIMEOUT_MS);
  }, 90_000);
});
