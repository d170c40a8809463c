import type { Prisma, PrismaClient } from '@ccl/db';

/**
 * An echo run's row written directly, on a new card of project `project` (made on first use), for a
 * test that starts from a run in a given state rather than submitting one. `data` sets or overrides
 * the execution's columns (state, startedAt, context…).
 */
export async function createEchoRun(
  prisma: PrismaClient,
  opts: {
    project: string;
    userId: string;
    title?: string;
    data?: Partial<Omit<Prisma.ExecutionUncheckedCreateInput, 'taskId'>>;
  },
) {
  const project = await prisma.project.upsert({
    where: { slug: opts.project },
    create: { slug: opts.project, name: opts.project },
    update: {},
  });
  const task = await prisma.task.create({
    data: { projectId: project.id, title: opts.title ?? opts.project, creatorId: opts.userId },
  });
  return prisma.execution.create({
    data: {
      taskId: task.id,
      requestedAgent: 'echo',
      agentType: 'echo',
      prompt: 'p',
      userId: opts.userId,
      ...opts.data,
    },
  });
}
