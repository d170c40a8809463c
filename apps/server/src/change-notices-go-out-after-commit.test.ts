import {
  appendEvent,
  CHANNELS,
  type CoreDeps,
  type ExecutionChange,
  ensureBuiltins,
  LOCAL_USER_ID,
  makeAuditSigner,
  type Publisher,
  systemCtx,
  transitionAndPublish,
} from '@ccl/core';
import { createPrisma, type PrismaClient } from '@ccl/db';
import { createNotifier, type Notifier } from '@ccl/queue';
import { createEchoRun, createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './test-support/test-server.ts';

/**
 * A run's events and its moves to PLANNING and RUNNING send their change notice after their
 * commit, through the process's notifier, instead of from within the statement: a transaction that
 * notifies holds PostgreSQL's NOTIFY lock until its commit is flushed, and the run's statements
 * queued behind one another there (docs/reliability.md, throughput). A move to WAITING or to an end
 * still notifies with its commit: a notice sent after can be lost if the process dies, and nothing
 * of the run may follow those to tell the listeners instead. What listeners hear is the same.
 */
describe('change notices of a run go out after its statements commit', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let prisma: PrismaClient;
  let listener: Notifier;
  let sender: Notifier;
  const heard: ExecutionChange[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 4 });
    await ensureBuiltins(prisma);
    listener = createNotifier(db.url);
    sender = createNotifier(db.url);
    await listener.subscribe(CHANNELS.execution, (payload) => heard.push(JSON.parse(payload)));
  });
  afterAll(async () => {
    await listener?.close();
    await sender?.close();
    await prisma?.$disconnect();
    await db?.drop();
  });

  const runningExecution = (state: 'PLANNING' | 'RUNNING' = 'RUNNING') =>
    createEchoRun(prisma, {
      project: 'notices',
      userId: LOCAL_USER_ID,
      data: { state, startedAt: new Date(Date.now() - 1500) },
    });

  const depsWith = (bus: Publisher) =>
    ({
      prisma,
      bus,
      audit: makeAuditSigner('notices-test-key-notices-test-key'),
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
    }) as unknown as CoreDeps;

  /** Waits long enough for a notice sent with the statement to have arrived. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

  it('events and the move to RUNNING notify through the bus once committed; the end notifies with its commit, after them', async () => {
    const exec = await runningExecution('PLANNING');
    const published: ExecutionChange[] = [];
    const committed: boolean[] = [];
    const deps = depsWith({
      publish: async (channel, payload) => {
        expect(channel).toBe(CHANNELS.execution);
        const notice = JSON.parse(payload) as ExecutionChange;
        published.push(notice);
        // Sent after the commit: the row already says what the notice does.
        const row = await prisma.execution.findUniqueOrThrow({ where: { id: exec.id } });
        committed.push(row.eventSeq >= notice.seq);
      },
    });
    const before = heard.length;
    await transitionAndPublish(deps, systemCtx(), exec.id, 'RUNNING');
    await appendEvent(deps, exec.id, 'usage', { cost_usd: 0 }, { input_tokens: 1 });
    await settle();
    // Nothing from the statements themselves.
    expect(heard.slice(before).filter((n) => n.executionId === exec.id)).toEqual([]);
    expect(published).toEqual([
      { executionId: exec.id, taskId: exec.taskId, seq: 1, state: 'RUNNING' },
      {
        executionId: exec.id,
        taskId: exec.taskId,
        seq: 2,
        state: 'RUNNING',
        at: expect.any(String),
        usage: true,
      },
    ]);

    await waitFor(async () => committed.length === 2);
    expect(committed).toEqual([true, true]);

    await transitionAndPublish(deps, systemCtx(), exec.id, 'COMPLETED', { result: 'done' });
    const mine = () => heard.slice(before).filter((n) => n.executionId === exec.id);
    const end = await waitFor(async () => mine().length > 0 && mine());
    await settle();
    expect(published).toHaveLength(2);
    expect(mine()).toHaveLength(1);
    expect(end).toEqual([
      {
        executionId: exec.id,
        taskId: exec.taskId,
        seq: 3,
        state: 'COMPLETED',
        // The end names the agent and the time run, for the duration histogram (metrics.ts).
        ended: { agentType: 'echo', seconds: expect.any(Number) },
      },
    ]);
    expect(end[0]?.ended?.seconds).toBeGreaterThan(1);
  });

  it("through the process's notifier, listeners hear every notice of many runs, each run's in order", async () => {
    const deps = depsWith(sender);
    const runs = await Promise.all(Array.from({ length: 12 }, () => runningExecution()));
    await Promise.all(
      runs.map(async (exec) => {
        for (let step = 0; step < 5; step++) await appendEvent(deps, exec.id, 'progress', { step });
        await transitionAndPublish(deps, systemCtx(), exec.id, 'COMPLETED', { result: 'done' });
      }),
    );
    await waitFor(async () => heard.filter((n) => runs.some((r) => r.id === n.executionId)).length >= 72);
    await settle();
    for (const exec of runs) {
      const mine = heard.filter((n) => n.executionId === exec.id);
      expect(mine.map((n) => [n.seq, n.state])).toEqual([
        [1, 'RUNNING'],
        [2, 'RUNNING'],
        [3, 'RUNNING'],
        [4, 'RUNNING'],
        [5, 'RUNNING'],
        [6, 'COMPLETED'],
      ]);
    }
  });
});
