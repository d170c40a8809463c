import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTelegramWorld, type TelegramWorld } from './test-support/telegram-fixture.ts';
import { recordSpend, waitFor } from './test-support/test-server.ts';

const ALICE = 3001;
/** Follows a task of the project, not the project itself. */
const BOB = 3002;

let world: TelegramWorld;

beforeAll(async () => {
  world = await startTelegramWorld();
  await world.addLinkedUser('alice', 'DEVELOPER', ALICE);
  await world.addLinkedUser('bob', 'DEVELOPER', BOB);
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

const budgetMessages = (chat: number) => world.fake.messages(chat).filter((m) => m.text.startsWith('💰'));

describe('a project crossing 80 % of its monthly budget', () => {
  it('tells the chats following the project or one of its tasks, once a month', async () => {
    const { server } = world;
    const project = await server.prisma.project.create({
      data: { slug: 'spend', name: 'spend', settings: { budget_usd_month: 1 } },
    });
    expect((await world.say(ALICE, '/follow spend')).text).toBe('This chat now follows project spend.');
    const first = await world.submitEcho('bob', 'spend', { steps: 0, delay_ms: 0 });
    await world.waitForState(first.executionId, ['COMPLETED']);
    // The answer comes after the task's own message, which following it sends first.
    world.fake.userSays({ chat: BOB, from: { id: BOB }, text: `/follow #${first.number}` });
    await world.fake.waitFor(() =>
      world.fake.messages(BOB).find((m) => m.text === `This chat now follows task #${first.number}.`),
    );
    // Below 80 % nothing is said.
    await new Promise((r) => setTimeout(r, 300));
    expect(budgetMessages(ALICE)).toHaveLength(0);

    // Earlier spend this month, as the worker stores a run's cost: $0.85 of $1.
    await recordSpend(server.prisma, { projectId: project.id, userId: 'bob', usd: 0.85 });
    const next = await world.submitEcho('bob', 'spend', { steps: 0, delay_ms: 0 });
    await world.waitForState(next.executionId, ['COMPLETED']);
    const month = new Date().toISOString().slice(0, 7);
    const text =
      `💰 Project spend has used 85 % of its monthly budget ($0.85 of $1.00 in ${month}). ` +
      'At 100 % its new runs wait and running ones ask to go on.';
    for (const chat of [ALICE, BOB]) {
      await world.fake.waitFor(() => budgetMessages(chat)[0], 15_000);
      expect(budgetMessages(chat).map((m) => m.text)).toEqual([text]);
    }

    // More runs this month say nothing more.
    const later = await world.submitEcho('bob', 'spend', { steps: 0, delay_ms: 0 });
    await world.waitForState(later.executionId, ['COMPLETED']);
    await waitFor(async () => (await server.prisma.budgetNotice.count()) === 1);
    await new Promise((r) => setTimeout(r, 500));
    expect(budgetMessages(ALICE)).toHaveLength(1);
    expect(budgetMessages(BOB)).toHaveLength(1);
  }, 60_000);
});
