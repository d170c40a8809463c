import { createPrisma, type PrismaClient } from '@ccl/db';
import { createTestDatabase, type TestDatabase, uniquePrefix } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliEnv, killAllCli, runCli } from './test-support/run-cli.ts';

describe('clawlink doctor on executions and the queue', () => {
  let db: TestDatabase;
  let prisma: PrismaClient;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    db = await createTestDatabase();
    prisma = createPrisma(db.url, { max: 2 });
    env = cliEnv({ DATABASE_URL: db.url, LOG_LEVEL: 'warn', QUEUE_NAME: uniquePrefix('doctor-exec') });
    expect((await runCli(['user', 'add', 'ada', '--role', 'DEVELOPER'], env)).code).toBe(0);
  });
  afterAll(async () => {
    await killAllCli();
    await prisma?.$disconnect();
    await db?.drop();
  });

  it('says none are stuck, then names a silent run, an overdue approval, and queued work without a worker', async () => {
    const healthy = await runCli(['doctor'], env);
    expect(healthy.stdout).toMatch(/^ ok \s+executions\s+0 queued, 0 workers alive, none stuck$/m);
    expect(healthy.stdout).toMatch(
      /^ ok \s+queue\s+BullMQ Postgres backend \(REDIS_URL unset\); jobs: 0 waiting, 0 active, 0 delayed, 0 failed$/m,
    );

    const project = await prisma.project.create({ data: { slug: 'doc', name: 'doc' } });
    const task = await prisma.task.create({ data: { projectId: project.id, title: 't', creatorId: 'ada' } });
    const base = { taskId: task.id, requestedAgent: 'echo', agentType: 'echo', prompt: 'p', userId: 'ada' };
    const silent = await prisma.execution.create({ data: { ...base, state: 'RUNNING' } });
    const overdue = await prisma.execution.create({ data: { ...base, state: 'WAITING' } });
    await prisma.execution.create({ data: { ...base, state: 'PENDING' } });
    // As the rows would be after an hour (two) without a change.
    await prisma.$executeRaw`UPDATE executions SET updated_at = now() - interval '1 hour' WHERE id = ${silent.id}::uuid`;
    await prisma.$executeRaw`UPDATE executions SET updated_at = now() - interval '2 hours' WHERE id = ${overdue.id}::uuid`;

    const sick = await runCli(['doctor'], env);
    expect(sick.code).toBe(1);
    const line = sick.stdout.split('\n').find((l) => l.includes('executions')) ?? '';
    expect(line).toMatch(/^FAIL\s+executions\s+/);
    expect(line).toContain(`no event for 10 min from #${silent.number}`);
    expect(line).toContain(`waiting for an approval past APPROVAL_TIMEOUT_S: #${overdue.number}`);
    expect(line).toContain('1 queued but no worker has beaten in the last minute');
  }, 60_000);
});
