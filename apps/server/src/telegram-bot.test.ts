import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTelegramWorld, type TelegramWorld } from './test-support/telegram-fixture.ts';
import { readJson, waitFor } from './test-support/test-server.ts';

// Telegram accounts (private chat ids equal the user ids) and a group where bob and vera sit.
const ALICE = 1001;
const BOB = 1002;
const VERA = 1003;
const STRANGER = 1009;
const GROUP = -100_500;

let world: TelegramWorld;

beforeAll(async () => {
  world = await startTelegramWorld({ env: { LOG_LEVEL: 'info' } });
  await world.addLinkedUser('alice', 'DEVELOPER', ALICE);
  await world.addLinkedUser('bob', 'DEVELOPER', BOB);
  await world.addLinkedUser('vera', 'VIEWER', VERA);
}, 60_000);

afterAll(async () => {
  await world?.stop();
});

const auditRows = (action: string) =>
  world.server.prisma.auditEvent.findMany({ where: { action }, orderBy: { seq: 'asc' } });

const groupSays = (from: number, text: string, replyTo?: number) =>
  world.fake.userSays({
    chat: { id: GROUP, type: 'supergroup', title: 'team' },
    from: { id: from, username: `tg${from}` },
    text,
    ...(replyTo ? { replyTo } : {}),
  });

describe('linking a Telegram account', () => {
  it('binds with a single-use code, refuses a reused, expired or unknown one, and audits it', async () => {
    const { fake, server } = world;
    await server.addUserWithKey('carol', 'DEVELOPER');
    const [row] = await server.prisma.apiKey.findMany({ where: { userId: 'carol' } });
    expect(row).toBeDefined();
    // Codes through the CLI's use case path are covered in cli tests; here the API makes them.
    const res = await world.api('alice', 'POST', '/api/auth/telegram/link');
    const { code } = await readJson(res);
    const linked = await world.say(2001, `/link ${code}`);
    expect(linked.text).toContain('now acts as alice');
    // Alice's code moved her link to the new account; the code is spent now.
    const reused = await world.say(2002, `/start ${code}`);
    expect(reused.text).toBe('Not linked: this link code was already used; make a new one.');
    const expired = (await readJson(await world.api('alice', 'POST', '/api/auth/telegram/link'))).code;
    await server.prisma.telegramLinkCode.updateMany({
      where: { userId: 'alice', usedAt: null },
      data: { expiresAt: new Date(Date.now() - 1000) },
    });
    expect((await world.say(2002, `/start ${expired}`)).text).toBe(
      'Not linked: this link code has expired; make a new one.',
    );
    expect((await world.say(2002, '/start AAAAAAAAAAAAAAAAAAAAAAAA')).text).toBe(
      'Not linked: unknown link code.',
    );
    // Back to the first account, for the other tests.
    const again = (await readJson(await world.api('alice', 'POST', '/api/auth/telegram/link'))).code;
    expect((await world.say(ALICE, `/start ${again}`)).text).toContain('now acts as alice');
    const status = await readJson(await world.api('alice', 'GET', '/api/auth/telegram'));
    expect(status).toMatchObject({
      enabled: true,
      bot_username: fake.bot.username,
      linked: { telegram_user_id: String(ALICE), username: `tg${ALICE}` },
    });
    const links = await auditRows('telegram.link');
    expect(links.filter((r) => r.outcome === 'DENIED').map((r) => (r.detail as Json).reason)).toEqual([
      'this link code was already used; make a new one',
      'this link code has expired; make a new one',
      'unknown link code',
    ]);
    expect(links.at(-1)).toMatchObject({
      actorUserId: 'alice',
      outcome: 'ALLOWED',
      detail: { channel: 'telegram', telegram_user_id: String(ALICE) },
    });
  });

  it('answers an unlinked account with how to link, except /help and /start', async () => {
    const tasks = await world.say(STRANGER, '/tasks');
    expect(tasks.text).toContain('not linked to a CoderClawLink user');
    expect(tasks.text).toContain('/link <code>');
    expect((await world.say(STRANGER, '/help')).text).toContain('/run — Start a task here');
    expect((await world.say(STRANGER, '/run echo hello')).text).toContain('not linked');
    expect(await world.server.prisma.task.count({ where: { title: 'hello' } })).toBe(0);
  });

  it('answers unknown commands and missing arguments with one line', async () => {
    expect((await world.say(ALICE, '/frobnicate')).text).toBe(
      'Unknown command /frobnicate; /help lists the commands.',
    );
    expect((await world.say(ALICE, '/task')).text).toBe('Which task? /task <number or id>');
    expect((await world.say(ALICE, '/task 999999')).text).toBe('task 999999 not found');
    expect((await world.say(ALICE, '/project nope')).text).toBe(
      "No project 'nope' you can reach; /projects lists them.",
    );
    expect((await world.say(ALICE, '/whoami')).text).toBe("alice (DEVELOPER); this chat's project: inbox.");
  });

  it('registers its commands with setMyCommands', async () => {
    await waitFor(async () => world.fake.commands().length > 0);
    expect(world.fake.commands().map((c) => c.command)).toEqual(
      expect.arrayContaining([
        'tasks',
        'task',
        'run',
        'project',
        'projects',
        'cancel',
        'agents',
        'whoami',
        'help',
      ]),
    );
  });
});

describe('running and following tasks', () => {
  it('/run starts an echo task and keeps one message, edited until COMPLETED, audited as telegram', async () => {
    const { fake, server } = world;
    const before = fake.messages(ALICE).length;
    fake.userSays({
      chat: ALICE,
      from: { id: ALICE, username: `tg${ALICE}` },
      text: '/run echo say hello from the phone',
    });
    const task = await waitFor(() =>
      server.prisma.task.findFirst({ where: { title: 'say hello from the phone' } }),
    );
    const message = await fake.waitFor(() => {
      const m = fake
        .messages(ALICE)
        .slice(before)
        .find((x) => x.text.startsWith(`#${task.number} `));
      return m?.text.includes('✅ completed') ? m : undefined;
    }, 20_000);
    // One message for the task, edited in place: nothing else was sent to the chat.
    expect(fake.messages(ALICE).length).toBe(before + 1);
    expect(message.text).toContain('say hello from the phone · inbox');
    expect(message.text).toMatch(/✅ completed \(echo, \d+ s/);
    const created = (await auditRows('task.create')).find((r) => r.resourceId === task.id);
    expect(created).toMatchObject({
      actorUserId: 'alice',
      detail: { channel: 'telegram', telegram_user_id: String(ALICE) },
    });
  });

  it('in a group answers only commands addressed to it', async () => {
    const { fake } = world;
    const before = fake.messages(GROUP).length;
    groupSays(BOB, '/whoami');
    groupSays(BOB, `/whoami@${fake.bot.username}`);
    const answer = await fake.waitFor(() => fake.messages(GROUP)[before], 10_000);
    expect(answer.text).toContain('bob (DEVELOPER)');
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.messages(GROUP).length).toBe(before + 1);
  });

  it('/cancel stops a running task, audited as telegram', async () => {
    const { executionId, number } = await world.submitEcho('alice', 'inbox', { steps: 200, delay_ms: 100 });
    await world.waitForState(executionId, ['RUNNING']);
    const before = world.fake.messages(ALICE).length;
    world.fake.userSays({ chat: ALICE, from: { id: ALICE }, text: `/cancel #${number}` });
    // The answer, besides the task's own message (now followed).
    await world.fake.waitFor(() =>
      world.fake
        .messages(ALICE)
        .slice(before)
        .find((m) => m.text === `Cancelling #${number}…`),
    );
    await world.waitForState(executionId, ['CANCELLED']);
    const cancel = (await auditRows('execution.cancel')).find((r) => r.resourceId === executionId);
    expect(cancel).toMatchObject({
      outcome: 'ALLOWED',
      detail: { channel: 'telegram', telegram_user_id: String(ALICE) },
    });
    // The chat now follows the task: its message shows it cancelled.
    await world.fake.waitFor(() =>
      world.fake
        .messages(ALICE)
        .find((m) => m.text.startsWith(`#${number} `) && m.text.includes('⏹ cancelled')),
    );
  });
});

describe('every command', () => {
  it('projects, project, whoami, run there, tasks, task, agents, follow and unfollow', async () => {
    const { fake, server } = world;
    await world.submitEcho('alice', 'web', { steps: 0 });
    expect((await world.say(ALICE, '/projects')).text).toMatch(/^▶ inbox — .*\n• web — web \(1 tasks\)$/m);
    expect((await world.say(ALICE, '/project web')).text).toBe(
      "This chat's project is now web; /run starts tasks there.",
    );
    expect((await world.say(ALICE, '/whoami')).text).toBe("alice (DEVELOPER); this chat's project: web.");
    fake.userSays({ chat: ALICE, from: { id: ALICE }, text: '/run fix the web footer' });
    const task = await waitFor(() =>
      server.prisma.task.findFirst({
        where: { title: 'fix the web footer' },
        include: { project: true, executions: true },
      }),
    );
    expect(task.project.slug).toBe('web');
    // No agent named: general-purpose, which routes to the default agent.
    expect(task.executions[0]?.requestedAgent).toBe('general-purpose');
    await fake.waitFor(() =>
      fake.messages(ALICE).find((m) => m.text.startsWith(`#${task.number} fix the web footer · web`)),
    );
    const tasks = await world.say(ALICE, '/tasks web');
    expect(tasks.text).toContain(`#${task.number} `);
    expect(tasks.text).toContain('fix the web footer · web');
    const detail = await world.say(ALICE, `/task ${task.number}`);
    expect(detail.text).toMatch(new RegExp(`^#${task.number} fix the web footer\nproject web · `));
    expect((await world.say(ALICE, '/agents')).text).toMatch(/^✓ echo — /m);
    expect((await world.say(ALICE, `/follow #${task.number}`)).text).toBe(
      `This chat now follows task #${task.number}.`,
    );
    expect((await world.say(ALICE, `/unfollow ${task.number}`)).text).toBe(
      `This chat no longer follows task #${task.number}.`,
    );
    expect((await world.say(ALICE, `/unfollow ${task.number}`)).text).toBe(
      `This chat did not follow task #${task.number}.`,
    );
    expect((await world.say(ALICE, '/follow web')).text).toBe('This chat now follows project web.');
    expect((await world.say(ALICE, '/unfollow web')).text).toBe('This chat no longer follows project web.');
    expect((await world.say(ALICE, '/follow nowhere')).text).toBe(
      "no project or task 'nowhere' you can reach",
    );
    expect((await world.say(ALICE, '/project inbox')).text).toBe(
      "This chat's project is now inbox; /run starts tasks there.",
    );
  });

  it('checks the permissions and projects the user has at each update, not at link time', async () => {
    const { fake, server } = world;
    await server.prisma.user.update({ where: { id: 'alice' }, data: { roleName: 'VIEWER' } });
    try {
      expect((await world.say(ALICE, '/run echo not allowed now')).text).toBe(
        "user 'alice' lacks task:submit",
      );
    } finally {
      await server.prisma.user.update({ where: { id: 'alice' }, data: { roleName: 'DEVELOPER' } });
    }
    await server.prisma.user.update({ where: { id: 'alice' }, data: { disabled: true } });
    try {
      expect((await world.say(ALICE, '/whoami')).text).toContain('not linked to a CoderClawLink user');
    } finally {
      await server.prisma.user.update({ where: { id: 'alice' }, data: { disabled: false } });
    }
    // A project that becomes members-only without alice: her chat's follow no longer sends it.
    await world.submitEcho('bob', 'closed', { steps: 0 });
    expect((await world.say(ALICE, '/follow closed')).text).toBe('This chat now follows project closed.');
    const project = await server.prisma.project.findUniqueOrThrow({ where: { slug: 'closed' } });
    await server.prisma.projectMember.create({
      data: { projectId: project.id, userId: 'bob', addedBy: 'system' },
    });
    const { executionId, number } = await world.submitEcho('bob', 'closed', { steps: 1, delay_ms: 10 });
    await world.waitForState(executionId, ['COMPLETED']);
    await new Promise((r) => setTimeout(r, 500));
    expect(fake.messages(ALICE).filter((m) => m.text.startsWith(`#${number} `))).toEqual([]);
    expect((await world.say(ALICE, '/project closed')).text).toBe(
      "No project 'closed' you can reach; /projects lists them.",
    );
  });

  it('unlinks from Telegram (/unlink) and from the board (DELETE /api/auth/telegram)', async () => {
    await world.addLinkedUser('dave', 'DEVELOPER', 1004);
    expect((await world.say(1004, '/unlink')).text).toBe(
      'Unlinked. This Telegram account no longer acts for anyone.',
    );
    expect((await world.say(1004, '/whoami')).text).toContain('not linked');
    const code = (await readJson(await world.api('dave', 'POST', '/api/auth/telegram/link'))).code;
    expect((await world.say(1004, `/start ${code}`)).text).toContain('now acts as dave');
    expect(await readJson(await world.api('dave', 'DELETE', '/api/auth/telegram'))).toEqual({
      unlinked: true,
    });
    expect(await readJson(await world.api('dave', 'GET', '/api/auth/telegram'))).toMatchObject({
      linked: null,
    });
    expect((await world.say(1004, '/whoami')).text).toContain('not linked');
    const unlinks = (await auditRows('telegram.unlink')).filter((r) => r.resourceId === 'dave');
    expect(unlinks.map((r) => (r.detail as Json).channel ?? 'board')).toEqual(['telegram', 'board']);
  });
});

describe('approvals from a chat', () => {
  beforeAll(async () => {
    // The project exists once a task is in it; then the group follows it.
    await world.submitEcho('alice', 'ops', { steps: 0 });
    const before = world.fake.messages(GROUP).length;
    groupSays(BOB, `/follow@${world.fake.bot.username} ops`);
    const answer = await world.fake.waitFor(() => world.fake.messages(GROUP)[before]);
    expect(answer.text).toBe('This chat now follows project ops.');
  });

  async function approvalMessage(number: number) {
    const { fake } = world;
    return fake.waitFor(
      () => fake.messages(GROUP).find((m) => m.text.includes(`Approval needed · #${number} `)),
      20_000,
    );
  }

  it('a button press approves once, a VIEWER is refused, a second press is refused, the message says who', async () => {
    const { fake } = world;
    const { executionId, number } = await world.submitEcho('alice', 'ops', {
      steps: 2,
      delay_ms: 50,
      ask_approval: true,
    });
    const message = await approvalMessage(number);
    expect(message.text).toContain('asks to command:');
    expect(message.text).toContain('$ echo step');
    const buttons = (message.keyboard as Json).inline_keyboard[0];
    expect(buttons.map((b: Json) => b.text)).toEqual(['✅ Approve', '❌ Deny']);
    const approve = buttons[0].callback_data as string;
    expect(approve).toMatch(/^ap:[A-Za-z0-9_-]{16}:y$/);

    const viewerPress = fake.press({
      chat: { id: GROUP, type: 'supergroup' },
      from: { id: VERA },
      messageId: message.messageId,
      data: approve,
    });
    const refused = await fake.waitFor(() => fake.callbackAnswers.get(viewerPress));
    expect(refused.text).toBe("user 'vera' lacks task:approve");
    expect((await world.server.prisma.execution.findUnique({ where: { id: executionId } }))?.state).toBe(
      'WAITING',
    );
    const denied = (await auditRows('task:approve')).at(-1);
    expect(denied).toMatchObject({
      actorUserId: 'vera',
      outcome: 'DENIED',
      detail: { channel: 'telegram', telegram_user_id: String(VERA) },
    });

    const press = fake.press({
      chat: { id: GROUP, type: 'supergroup' },
      from: { id: BOB },
      messageId: message.messageId,
      data: approve,
    });
    expect((await fake.waitFor(() => fake.callbackAnswers.get(press))).text).toBe('Approved.');
    await world.waitForState(executionId, ['COMPLETED']);
    // An out-of-date client still shows the buttons.
    const again = fake.press({
      chat: { id: GROUP, type: 'supergroup' },
      from: { id: BOB },
      messageId: message.messageId,
      data: approve,
      stale: true,
    });
    expect((await fake.waitFor(() => fake.callbackAnswers.get(again))).text).toMatch(
      /^Already (approved|decided) by bob/,
    );
    const decided = await fake.waitFor(() => {
      const m = fake.messages(GROUP).find((x) => x.messageId === message.messageId);
      return m?.text.includes('✅ Approved by bob') ? m : undefined;
    });
    expect(decided.keyboard).toBeUndefined();
    const approval = (await auditRows('execution.approve')).find((r) => r.resourceId === executionId);
    expect(approval).toMatchObject({
      actorUserId: 'bob',
      detail: { channel: 'telegram', telegram_user_id: String(BOB) },
    });
  });

  it('a reply to the request denies with its text as the comment', async () => {
    const { fake } = world;
    const { executionId, number } = await world.submitEcho('alice', 'ops', {
      steps: 2,
      delay_ms: 50,
      ask_approval: true,
    });
    const message = await approvalMessage(number);
    groupSays(BOB, 'not now, the tests are red', message.messageId);
    const failed = await world.waitForState(executionId, ['FAILED']);
    expect(failed.error).toBe('approval denied: not now, the tests are red');
    await fake.waitFor(() =>
      fake
        .messages(GROUP)
        .find(
          (m) =>
            m.messageId === message.messageId &&
            m.text.includes('❌ Denied by bob: not now, the tests are red'),
        ),
    );
  });

  it('/approve <comment> in reply approves with the comment', async () => {
    const { fake, server } = world;
    const { executionId, number } = await world.submitEcho('alice', 'ops', {
      steps: 2,
      delay_ms: 50,
      ask_approval: true,
    });
    const message = await approvalMessage(number);
    groupSays(BOB, `/approve@${fake.bot.username} ship it`, message.messageId);
    await world.waitForState(executionId, ['COMPLETED']);
    const event = await server.prisma.executionEvent.findFirst({
      where: { executionId, type: 'state', data: { path: ['to'], equals: 'running' } },
      orderBy: { seq: 'desc' },
    });
    expect((event?.data as Json)?.decision).toMatchObject({ approved: true, comment: 'ship it', by: 'bob' });
  });
});

describe('Telegram failing', () => {
  it('a 429 storm delays messages but loses none', async () => {
    const { fake } = world;
    const before = fake.messages(ALICE).length;
    fake.rateLimit({ method: 'sendMessage', chatId: ALICE, times: 3, retryAfter: 1 });
    const started = Date.now();
    for (const cmd of ['/whoami', '/projects', '/help']) {
      fake.userSays({ chat: ALICE, from: { id: ALICE, username: `tg${ALICE}` }, text: cmd });
    }
    await fake.waitFor(() => fake.messages(ALICE).length >= before + 3, 30_000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    const texts = fake
      .messages(ALICE)
      .slice(before)
      .map((m) => m.text);
    expect(texts[0]).toContain('alice (DEVELOPER)');
    expect(texts[2]).toContain('CoderClawLink bot. Commands:');
  });

  it('an outage of Telegram does not hold or fail an execution', async () => {
    const { fake } = world;
    fake.setDown(true);
    try {
      const { executionId } = await world.submitEcho('alice', 'ops', { steps: 3, delay_ms: 20 });
      await world.waitForState(executionId, ['COMPLETED'], 15_000);
    } finally {
      fake.setDown(false);
    }
  });

  it('never shows the bot token in answers, audit rows or logs', async () => {
    const { fake, server } = world;
    const token = fake.token;
    const status = await (await world.api('alice', 'GET', '/api/auth/telegram')).text();
    expect(status).not.toContain(token);
    const audit = await server.prisma.auditEvent.findMany();
    expect(JSON.stringify(audit, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).not.toContain(token);
    expect(server.logs()).not.toContain(token.split(':')[1]);
    expect(server.output()).not.toContain(token.split(':')[1]);
  });
});

// biome-ignore lint/suspicious/noExplicitAny: JSON read back from the database and the fake.
type Json = any;
