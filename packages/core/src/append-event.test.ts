import { createPrisma, type PrismaClient } from '@ccl/db';
import { createEchoRun, createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFound } from './errors.ts';
import { appendEvent, appendEvents, pendingEvent } from './execution-store.ts';
import { ensureBuiltins, LOCAL_USER_ID } from './users.ts';

describe('appendEvent', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let prisma: PrismaClient;

  beforeAll(async () => {
    db = await createTestDatabase();
    // A session time zone far from UTC: stored timestamps must still be UTC, as Prisma writes them.
    const setup = createPrisma(db.url, { max: 1 });
    await setup.$executeRawUnsafe(
      `ALTER DATABASE "${new URL(db.url).pathname.slice(1)}" SET timezone TO 'Asia/Tokyo'`,
    );
    await setup.$disconnect();
    prisma = createPrisma(db.url, { max: 8 });
    await ensureBuiltins(prisma);
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  const newExecution = () => createEchoRun(prisma, { project: 'events', userId: LOCAL_USER_ID });

  it('numbers concurrent events of one execution without gaps or duplicates', async () => {
    const execution = await newExecution();
    const changes = await Promise.all(
      Array.from({ length: 20 }, (_, i) => appendEvent({ prisma }, execution.id, 'progress', { step: i })),
    );
    const expected = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(changes.map((c) => c.seq).sort((a, b) => a - b)).toEqual(expected);
    const events = await prisma.executionEvent.findMany({
      where: { executionId: execution.id },
      orderBy: { seq: 'asc' },
    });
    expect(events.map((e) => e.seq)).toEqual(expected);
    const row = await prisma.execution.findUniqueOrThrow({ where: { id: execution.id } });
    expect(row.eventSeq).toBe(20);
  });

  it('stores the event and usage with UTC timestamps and reports the state and a cancel request', async () => {
    const execution = await newExecution();
    const before = Date.now();
    const change = await appendEvent(
      { prisma },
      execution.id,
      'usage',
      { a: 'x\u0000y' },
      { input_tokens: 3 },
    );
    expect(change).toEqual({
      executionId: execution.id,
      taskId: execution.taskId,
      seq: 1,
      state: 'PENDING',
      cancelRequested: false,
      // A usage report brings back what the monthly budgets are checked against, read with it.
      budget: {
        projectId: (await prisma.task.findUniqueOrThrow({ where: { id: execution.taskId } })).projectId,
        projectSettings: {},
        userId: execution.userId,
        userBudget: null,
      },
    });
    const event = await prisma.executionEvent.findFirstOrThrow({ where: { executionId: execution.id } });
    expect(event.type).toBe('usage');
    expect(event.data).toEqual({ a: 'x\uFFFDy' });
    expect(Math.abs(event.createdAt.getTime() - before)).toBeLessThan(60_000);
    const row = await prisma.execution.findUniqueOrThrow({ where: { id: execution.id } });
    expect(row.usage).toEqual({ input_tokens: 3 });
    expect(Math.abs(row.updatedAt.getTime() - before)).toBeLessThan(60_000);

    await prisma.execution.update({ where: { id: execution.id }, data: { cancelRequestedAt: new Date() } });
    const next = await appendEvent({ prisma }, execution.id, 'message', { text: 'hi' });
    expect(next).toMatchObject({ seq: 2, cancelRequested: true });
    // Without usage, the stored usage stays as it was.
    expect((await prisma.execution.findUniqueOrThrow({ where: { id: execution.id } })).usage).toEqual({
      input_tokens: 3,
    });
  });

  it('writes an event once when the connection ended after the statement committed, and again when it had not', async () => {
    // The database as a worker sees it when the answer to its append is lost on the way back
    // (P1017, "server closed the connection"): the first try committed, the caller cannot tell.
    const lostAnswer = (commitFirst: boolean) => {
      let tries = 0;
      const flaky = {
        $queryRaw: async (...args: Parameters<PrismaClient['$queryRaw']>) => {
          tries += 1;
          if (tries === 1) {
            if (commitFirst) await prisma.$queryRaw(...args);
            throw Object.assign(new Error('Server has closed the connection.'), { code: 'P1017' });
          }
          return prisma.$queryRaw(...args);
        },
      };
      return flaky as unknown as PrismaClient;
    };
    const execution = await newExecution();
    const once = await appendEvent({ prisma: lostAnswer(true) }, execution.id, 'progress', { step: 1 });
    expect(once).toMatchObject({ seq: 1, state: 'PENDING', cancelRequested: false });
    const never = await appendEvent({ prisma: lostAnswer(false) }, execution.id, 'progress', { step: 2 });
    expect(never.seq).toBe(2);
    const events = await prisma.executionEvent.findMany({
      where: { executionId: execution.id },
      orderBy: { seq: 'asc' },
    });
    expect(events.map((e) => [e.seq, e.data])).toEqual([
      [1, { step: 1 }],
      [2, { step: 2 }],
    ]);
    expect((await prisma.execution.findUniqueOrThrow({ where: { id: execution.id } })).eventSeq).toBe(2);
  });

  it('appends several events in one statement, in order, each with the time it happened', async () => {
    const execution = await newExecution();
    await appendEvent({ prisma }, execution.id, 'message', { text: 'first' });
    const at = (ms: number) => new Date(Date.UTC(2026, 11, 7, 10, 0, 0, ms)).toISOString();
    const waiting = (type: string, data: Record<string, unknown>, ms: number) => ({
      ...pendingEvent(type, data),
      at: at(ms),
    });
    const change = await appendEvents({ prisma }, execution.id, [
      waiting('message', { text: 'a "quoted" \\ text, {braces}' }, 10),
      waiting('tool_call', { id: 't1', name: 'shell', input: { cmd: ['ls', '-la'] } }, 20),
      waiting('tool_result', { id: 't1', output: 'x\u0000y' }, 30),
    ]);
    expect(change).toMatchObject({ seq: 4, state: 'PENDING', cancelRequested: false });
    const events = await prisma.executionEvent.findMany({
      where: { executionId: execution.id },
      orderBy: { seq: 'asc' },
    });
    expect(events.slice(1).map((e) => [e.seq, e.type, e.data, e.createdAt.toISOString()])).toEqual([
      [2, 'message', { text: 'a "quoted" \\ text, {braces}' }, at(10)],
      [3, 'tool_call', { id: 't1', name: 'shell', input: { cmd: ['ls', '-la'] } }, at(20)],
      // Stored as every event is: a NUL, which PostgreSQL refuses in jsonb, is replaced.
      [4, 'tool_result', { id: 't1', output: 'x\uFFFDy' }, at(30)],
    ]);
    expect((await prisma.execution.findUniqueOrThrow({ where: { id: execution.id } })).eventSeq).toBe(4);
  });

  it("sets the row's usage from the last usage report among waiting events, when none is given", async () => {
    const execution = await newExecution();
    const usage = (tokens: number) => ({ input_tokens: tokens, output_tokens: 1, cost_usd: 0 });
    await appendEvents({ prisma }, execution.id, [
      pendingEvent('usage', usage(3)),
      pendingEvent('message', { text: 'between' }),
      pendingEvent('usage', usage(7)),
    ]);
    const row = await prisma.execution.findUniqueOrThrow({ where: { id: execution.id } });
    expect(row.usage).toEqual(usage(7));
    // A write without a report keeps it.
    await appendEvents({ prisma }, execution.id, [pendingEvent('message', { text: 'after' })]);
    expect((await prisma.execution.findUniqueOrThrow({ where: { id: execution.id } })).usage).toEqual(
      usage(7),
    );
  });

  it('refuses an unknown execution', async () => {
    await expect(
      appendEvent({ prisma }, '00000000-0000-4000-8000-000000000000', 'message', {}),
    ).rejects.toBeInstanceOf(NotFound);
  });
});
