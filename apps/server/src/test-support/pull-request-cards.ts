import type { PrismaClient } from '@ccl/db';

let nextNumber = 1;

export interface SeededCard {
  taskId: string;
  executionIds: string[];
  pullRequest: { number: number; url: string } | null;
}

/**
 * A finished card as the GitHub integration leaves it: its runs with their costs (the first one
 * opened the pull request, the others are follow-ups) and the pull request row. Written straight
 * to the database, so statistics and cards can be checked against known figures.
 */
export async function seedPullRequestCard(
  prisma: PrismaClient,
  input: {
    project: string;
    title: string;
    /** The runs, oldest first: the first opens the pull request. */
    runs: Array<{ agent: string; cost: number }>;
    pr?: { state: 'open' | 'merged' | 'closed'; createdAt?: Date; number?: number };
    creator?: string;
  },
): Promise<SeededCard> {
  const creator = input.creator ?? 'local';
  const project = await prisma.project.upsert({
    where: { slug: input.project },
    create: { slug: input.project, name: input.project },
    update: {},
  });
  const task = await prisma.task.create({
    data: { projectId: project.id, title: input.title, creatorId: creator, column: 'review' },
  });
  const executionIds: string[] = [];
  for (const [i, run] of input.runs.entries()) {
    const at = new Date(Date.now() - (input.runs.length - i) * 60_000);
    const exec = await prisma.execution.create({
      data: {
        taskId: task.id,
        requestedAgent: run.agent,
        agentType: run.agent,
        prompt: i === 0 ? input.title : `follow-up ${i} of ${input.title}`,
        userId: creator,
        state: 'COMPLETED',
        usage: { input_tokens: 100, output_tokens: 50, cost_usd: run.cost },
        createdAt: at,
        startedAt: at,
        finishedAt: at,
      },
    });
    executionIds.push(exec.id);
  }
  if (!input.pr) return { taskId: task.id, executionIds, pullRequest: null };
  const number = input.pr.number ?? nextNumber++;
  const url = `https://github.com/acme/${input.project}/pull/${number}`;
  const createdAt = input.pr.createdAt ?? new Date();
  await prisma.pullRequest.create({
    data: {
      projectId: project.id,
      taskId: task.id,
      executionId: executionIds[0] as string,
      repo: `acme/${input.project}`,
      number,
      url,
      branch: `clawlink/${task.id.slice(0, 8)}`,
      base: 'main',
      state: input.pr.state,
      createdBy: creator,
      createdAt,
      ...(input.pr.state === 'merged' ? { mergedAt: createdAt } : {}),
      ...(input.pr.state === 'closed' ? { closedAt: createdAt } : {}),
    },
  });
  return { taskId: task.id, executionIds, pullRequest: { number, url } };
}
