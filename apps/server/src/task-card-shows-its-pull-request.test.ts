import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedPullRequestCard } from './test-support/pull-request-cards.ts';
import { type Json, readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

describe("a card's pull request in the board API", () => {
  let server: TestServer;
  const get = async (path: string): Promise<Json> => {
    const res = await fetch(`${server.url}${path}`);
    expect(res.status, path).toBe(200);
    return readJson(res);
  };

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', role: 'api' });
  });
  afterAll(async () => server?.stop());

  it('gives each card its newest pull request, in the list and alone, and null without one', async () => {
    const card = await seedPullRequestCard(server.prisma, {
      project: 'shop',
      title: 'Fix the checkout',
      runs: [
        { agent: 'claude', cost: 0.3 },
        { agent: 'claude', cost: 0.2 },
      ],
      pr: { state: 'closed', number: 7, createdAt: new Date(Date.now() - 3_600_000) },
    });
    // A later run delivered again: a second pull request, now merged.
    const task = await server.prisma.task.findUniqueOrThrow({ where: { id: card.taskId } });
    await server.prisma.pullRequest.create({
      data: {
        projectId: task.projectId,
        taskId: card.taskId,
        executionId: card.executionIds[1] as string,
        repo: 'acme/shop',
        number: 8,
        url: 'https://github.com/acme/shop/pull/8',
        branch: 'clawlink/fix-checkout-2',
        base: 'main',
        state: 'merged',
        createdBy: 'local',
        mergedAt: new Date(),
      },
    });
    const plain = await seedPullRequestCard(server.prisma, {
      project: 'shop',
      title: 'Not delivered yet',
      runs: [{ agent: 'claude', cost: 0.1 }],
    });
    const other = await seedPullRequestCard(server.prisma, {
      project: 'shop',
      title: 'Waiting for review',
      runs: [{ agent: 'openai', cost: 0.1 }],
      pr: { state: 'open', number: 9 },
    });

    const newest = {
      url: 'https://github.com/acme/shop/pull/8',
      number: 8,
      state: 'merged',
      branch: 'clawlink/fix-checkout-2',
    };
    expect((await get(`/api/tasks/${card.taskId}`)).pull_request).toEqual(newest);
    expect((await get(`/api/tasks/${plain.taskId}`)).pull_request).toBeNull();

    const list = await get('/api/tasks?project=shop');
    const byId = new Map(list.items.map((t: Json) => [t.id, t.pull_request]));
    expect(byId.get(card.taskId)).toEqual(newest);
    expect(byId.get(plain.taskId)).toBeNull();
    expect(byId.get(other.taskId)).toMatchObject({ number: 9, state: 'open' });

    // A change to the card answers with its pull request too.
    const patched = await fetch(`${server.url}/api/tasks/${card.taskId}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ column: 'done' }),
    });
    expect((await readJson(patched)).pull_request).toEqual(newest);
  });
});
