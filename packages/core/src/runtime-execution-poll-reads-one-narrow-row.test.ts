import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { NotFound } from './errors.ts';
import { ReadCache } from './read-cache.ts';
import { toRuntimeExecution } from './runtime-answer.ts';
import { getRuntimeExecution } from './runtime-executions.ts';
import { ensureBuiltins, LOCAL_USER_ID } from './users.ts';

/**
 * The 2026.3 poll's cache miss reads one narrow row by SQL instead of the execution with Prisma
 * includes: its answers must be exactly those built from the full read, whatever the run holds.
 */
describe('the 2026.3 execution poll reads one narrow row', () => {
  let db: Awaited<ReturnType<typeof createTestDatabase>>;
  let prisma: PrismaClient;
  let taskId = '';
  const ctx = makeCtx({
    userId: LOCAL_USER_ID,
    roleName: 'DEVELOPER',
    permissions: ['task:view'],
    via: 'local',
  });

  beforeAll(async () => {
    db = await createTestDatabase();
    // A session time zone far from UTC: the timestamps answered must still be the stored UTC ones.
    const setup = createPrisma(db.url, { max: 1 });
    await setup.$executeRawUnsafe(
      `ALTER DATABASE "${new URL(db.url).pathname.slice(1)}" SET timezone TO 'Asia/Tokyo'`,
    );
    await setup.$disconnect();
    prisma = createPrisma(db.url, { max: 4 });
    await ensureBuiltins(prisma);
    const project = await prisma.project.create({ data: { slug: 'polled', name: 'polled' } });
    taskId = (
      await prisma.task.create({ data: { projectId: project.id, title: 'polled', creatorId: LOCAL_USER_ID } })
    ).id;
  });
  afterAll(async () => {
    await prisma?.$disconnect();
    await db?.drop();
  });

  const run = (data: Record<string, unknown>) =>
    prisma.execution.create({
      data: {
        taskId,
        requestedAgent: 'echo',
        agentType: 'echo',
        prompt: 'poll me',
        userId: LOCAL_USER_ID,
        ...data,
      },
    });

  const fullRead = async (number: number) =>
    toRuntimeExecution(
      await prisma.execution.findUniqueOrThrow({
        where: { number },
        include: { task: { select: { id: true, number: true, project: { select: { number: true } } } } },
      }),
    );

  const runs: Array<[string, Record<string, unknown>]> = [
    ['queued, nothing set', {}],
    [
      'completed with text, CoderClaw session and claw',
      {
        state: 'COMPLETED',
        result: 'all done: “ünïcode” \\ "quotes"',
        context: { coderclaw_session_id: 'cc-session-1', echo: { steps: 2 } },
        clawId: 3,
        startedAt: new Date('2026-03-01T23:59:59.123Z'),
        finishedAt: new Date('2026-03-02T00:00:01.007Z'),
      },
    ],
    [
      'failed with a structured result and a session id that is not text',
      {
        state: 'FAILED',
        result: { summary: 'x', files: ['a.ts', 'b.ts'], nested: { n: 1.5, ok: true, none: null } },
        error: 'boom',
        context: { coderclaw_session_id: 42 },
      },
    ],
    [
      'a result that is a number, a context that is a list',
      { state: 'COMPLETED', result: 7, context: [1, 2] },
    ],
    ['a result that is a list', { state: 'CANCELLED', result: [{ b: 2, a: 1 }, 'two'] }],
    ['running, a multi-line prompt', { state: 'RUNNING', prompt: 'line one\nline two\ttab' }],
  ];

  it.each(runs)('answers exactly as the full read does: %s', async (_name, data) => {
    const { number } = await run(data);
    const deps = { prisma } as unknown as CoreDeps;
    expect(await getRuntimeExecution(deps, ctx, number)).toStrictEqual(await fullRead(number));
  });

  it('keeps that answer in the read cache, linked to its execution for change notices', async () => {
    const execution = await run({ state: 'RUNNING' });
    const cache = new ReadCache({ taskTtlMs: 60_000 });
    const deps = { prisma, cache } as unknown as CoreDeps;
    const answer = await getRuntimeExecution(deps, ctx, execution.number);
    expect(cache.runtimeExecution(execution.number)?.answer).toStrictEqual(answer);
    expect(cache.runtimeExecution(execution.number)?.taskUuid).toBe(taskId);
    await prisma.execution.update({ where: { id: execution.id }, data: { state: 'COMPLETED' } });
    cache.taskChanged(taskId, execution.id);
    expect((await getRuntimeExecution(deps, ctx, execution.number)).status).toBe('completed');
  });

  it('answers 404 for a number no execution has', async () => {
    const deps = { prisma, cache: new ReadCache() } as unknown as CoreDeps;
    await expect(getRuntimeExecution(deps, ctx, 999_999)).rejects.toThrow(NotFound);
  });
});
