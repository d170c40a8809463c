import { randomBytes } from 'node:crypto';
import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeAuditSigner } from './audit-chain.ts';
import { systemCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { InvalidState } from './errors.ts';
import { EventBatch } from './event-batch.ts';
import { appendEvents, type PendingEvent, pendingEvent, transitionExecution } from './execution-store.ts';
import { ensureBuiltins, LOCAL_USER_ID } from './users.ts';

const at = (ms: number) => new Date(Date.UTC(2026, 11, 7, 10, 0, 0, ms)).toISOString();
const event = (type: string, data: Record<string, unknown>, ms: number): PendingEvent => ({
  ...pendingEvent(type, data),
  at: at(ms),
});

describe('events written together', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let prisma: PrismaClient;
  let deps: Pick<CoreDeps, 'prisma' | 'audit'>;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 4 });
    await ensureBuiltins(prisma);
    deps = { prisma, audit: makeAuditSigner(randomBytes(32)) };
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  async function newExecution(state: 'PENDING' | 'PLANNING' = 'PENDING') {
    const project = await prisma.project.upsert({
      where: { slug: 'batch' },
      create: { slug: 'batch', name: 'batch' },
      update: {},
    });
    const task = await prisma.task.create({
      data: { projectId: project.id, title: 'batch', creatorId: LOCAL_USER_ID },
    });
    return prisma.execution.create({
      data: {
        taskId: task.id,
        requestedAgent: 'echo',
        agentType: 'echo',
        prompt: 'p',
        userId: LOCAL_USER_ID,
        state,
      },
    });
  }

  const eventsOf = async (executionId: string) =>
    (await prisma.executionEvent.findMany({ where: { executionId }, orderBy: { seq: 'asc' } })).map((e) => ({
      seq: e.seq,
      type: e.type,
      data: e.data,
      at: e.createdAt.toISOString(),
    }));

  it('appends several events in order, each with the time it happened, gap-free after those before', async () => {
    const exec = await newExecution();
    await appendEvents({ prisma }, exec.id, [event('message', { text: 'first' }, 1)]);
    const change = await appendEvents({ prisma }, exec.id, [
      event('message', { text: 'a "quoted" \\ text, {braces}' }, 10),
      event('tool_call', { id: 't1', name: 'shell', input: { cmd: ['ls', '-la'] } }, 20),
      event('tool_result', { id: 't1', output: 'x\u0000y' }, 30),
    ]);
    expect(change).toMatchObject({ seq: 4, state: 'PENDING', cancelRequested: false });
    expect(await eventsOf(exec.id)).toEqual([
      { seq: 1, type: 'message', data: { text: 'first' }, at: at(1) },
      { seq: 2, type: 'message', data: { text: 'a "quoted" \\ text, {braces}' }, at: at(10) },
      {
        seq: 3,
        type: 'tool_call',
        data: { id: 't1', name: 'shell', input: { cmd: ['ls', '-la'] } },
        at: at(20),
      },
      // Stored as every event is: a NUL, which PostgreSQL refuses in jsonb, is replaced.
      { seq: 4, type: 'tool_result', data: { id: 't1', output: 'x\uFFFDy' }, at: at(30) },
    ]);
    expect((await prisma.execution.findUniqueOrThrow({ where: { id: exec.id } })).eventSeq).toBe(4);
  });

  it('writes the waiting events just before a state move, in its statement, and none when the move is refused', async () => {
    const exec = await newExecution('PLANNING');
    await prisma.$transaction((tx) =>
      transitionExecution(deps, tx, systemCtx(), exec.id, 'RUNNING', {
        before: [event('status', { phase: 'planning' }, 1), event('message', { text: 'plan' }, 2)],
      }),
    );
    const events = await eventsOf(exec.id);
    expect(events.map((e) => [e.seq, e.type])).toEqual([
      [1, 'status'],
      [2, 'message'],
      [3, 'state'],
    ]);
    expect(events[2]?.data).toEqual({ from: 'planning', to: 'running' });

    // PENDING is not reachable from RUNNING: nothing of the statement is written.
    await expect(
      prisma.$transaction((tx) =>
        transitionExecution(deps, tx, systemCtx(), exec.id, 'PENDING', {
          before: [event('message', { text: 'lost?' }, 3)],
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidState);
    expect((await eventsOf(exec.id)).length).toBe(3);
    expect((await prisma.execution.findUniqueOrThrow({ where: { id: exec.id } })).eventSeq).toBe(3);
  });
});

describe('EventBatch', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('writes what waits on its own after its delay, or hands it to the next write first', async () => {
    const written: string[][] = [];
    const batch = new EventBatch(
      async (events) => {
        written.push(events.map((e) => e.type));
      },
      (err) => {
        throw err;
      },
      30,
    );
    batch.add(pendingEvent('a', {}));
    batch.add(pendingEvent('b', {}));
    expect(written).toEqual([]);
    await sleep(80);
    expect(written).toEqual([['a', 'b']]);

    batch.add(pendingEvent('c', {}));
    const carried = await batch.take();
    expect(carried.map((e) => e.type)).toEqual(['c']);
    await sleep(60);
    // Taken by a write of the run's: the timer does not write it again.
    expect(written).toEqual([['a', 'b']]);

    // A carrier that failed gives its events back, ahead of anything added since.
    batch.add(pendingEvent('e', {}));
    batch.giveBack(carried);
    await batch.flush();
    expect(written).toEqual([
      ['a', 'b'],
      ['c', 'e'],
    ]);
  });

  it("hands nothing over until the timer's own write has finished, so seqs follow the events' order", async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const batch = new EventBatch(
      async (events) => {
        order.push(`start ${events.map((e) => e.type).join(',')}`);
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        order.push('end');
      },
      () => undefined,
      10,
    );
    batch.add(pendingEvent('a', {}));
    await sleep(40);
    batch.add(pendingEvent('b', {}));
    const taking = batch.take().then((events) => order.push(`taken ${events.map((e) => e.type).join(',')}`));
    await sleep(20);
    expect(order).toEqual(['start a']);
    release();
    await taking;
    expect(order).toEqual(['start a', 'end', 'taken b']);
  });

  it('reports a failed write and goes on', async () => {
    const errors: unknown[] = [];
    const batch = new EventBatch(
      async () => {
        throw new Error('database gone');
      },
      (err) => errors.push(err),
      10,
    );
    batch.add(pendingEvent('a', {}));
    await batch.flush();
    expect((errors[0] as Error).message).toBe('database gone');
    expect(await batch.take()).toEqual([]);
  });
});
