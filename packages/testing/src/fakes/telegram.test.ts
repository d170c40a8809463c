import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { autoRetry } from '@grammyjs/auto-retry';
import { Bot, GrammyError, HttpError, InlineKeyboard, webhookCallback } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeTelegram, startFakeTelegram } from './telegram.ts';

const NOT_MODIFIED =
  'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

let fake: FakeTelegram;
const bots: Bot[] = [];
const servers: Server[] = [];

beforeEach(async () => {
  fake = await startFakeTelegram();
});

afterEach(async () => {
  for (const bot of bots.splice(0)) if (bot.isRunning()) await bot.stop();
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  await fake.close();
});

function newBot(client: ConstructorParameters<typeof Bot>[1] = {}): Bot {
  const bot = new Bot(fake.token, { ...client, client: { apiRoot: fake.url, ...client.client } });
  bots.push(bot);
  return bot;
}

/** `bot.start()`, resolved once its first getUpdates is held; `stopped` carries what polling ended with. */
async function startPolling(bot: Bot): Promise<{ stopped: Promise<unknown> }> {
  const polls = fake.callsTo('getUpdates').length;
  const stopped = bot.start().then(
    () => undefined,
    (error: unknown) => error,
  );
  await fake.waitFor(() =>
    fake
      .callsTo('getUpdates')
      .slice(polls)
      .some((c) => c.status === 0),
  );
  return { stopped };
}

/** The error a Bot API call rejects with. */
async function failure(call: Promise<unknown>): Promise<GrammyError> {
  const error = await call.then(
    () => new Error('expected the call to fail'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GrammyError);
  return error as GrammyError;
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/telegram`;
}

async function raw(
  method: string,
  init: {
    body?: NonNullable<Parameters<typeof fetch>[1]>['body'];
    type?: string;
    token?: string;
    query?: string;
  } = {},
) {
  const res = await fetch(`${fake.url}/bot${init.token ?? fake.token}/${method}${init.query ?? ''}`, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers: init.type ? { 'content-type': init.type } : {},
    body: init.body,
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe('fake Telegram Bot API driven by grammy', () => {
  it('long polling: a /ping from a user gets the bot’s pong, in private and group chats', async () => {
    const bot = newBot();
    bot.command('ping', (ctx) => ctx.reply('pong'));
    const { stopped } = await startPolling(bot);
    // grammy's bot.start() runs getMe and deleteWebhook concurrently, then polls.
    expect(
      fake.calls
        .slice(0, 2)
        .map((c) => c.method)
        .sort(),
    ).toEqual(['deleteWebhook', 'getMe']);
    expect(fake.calls[2]).toMatchObject({ method: 'getUpdates', params: { timeout: 30 }, status: 0 });

    const update = fake.userSays({ chat: 42, from: { id: 42, username: 'alice' }, text: '/ping' });
    expect(update.message?.entities).toEqual([{ type: 'bot_command', offset: 0, length: 5 }]);
    const pong = await fake.waitForMessage(42, (m) => m.text === 'pong');
    expect(pong.json).toMatchObject({
      from: { id: fake.bot.id, is_bot: true },
      chat: { id: 42, type: 'private' },
    });

    const group = { id: -100123, type: 'supergroup' as const, title: 'Team' };
    const inGroup = fake.userSays({ chat: group, from: { id: 7 }, text: '/ping@clawlink_test_bot now' });
    expect(inGroup.message?.entities?.[0]).toEqual({ type: 'bot_command', offset: 0, length: 23 });
    await fake.waitForMessage(group.id, (m) => m.text === 'pong');

    await bot.stop();
    expect(await stopped).toBeUndefined();
    expect(fake.pendingUpdates()).toBe(0);
  });

  it('a button press reaches callback_query:data; the answer is recorded and the message edited', async () => {
    const bot = newBot();
    bot.command('menu', (ctx) =>
      ctx.reply('Pick one', {
        reply_markup: new InlineKeyboard().text('Approve', 'ok:1').text('Reject', 'no:1'),
      }),
    );
    bot.on('callback_query:data', async (ctx) => {
      await ctx.answerCallbackQuery({ text: `got ${ctx.callbackQuery.data}` });
      await ctx.editMessageText(`Chosen: ${ctx.callbackQuery.data}`);
    });
    await startPolling(bot);
    fake.userSays({ chat: 42, text: '/menu' });
    const menu = await fake.waitForMessage(42, (m) => m.text === 'Pick one');
    expect(menu.keyboard?.inline_keyboard[0]?.map((b) => b.callback_data)).toEqual(['ok:1', 'no:1']);

    const queryId = fake.press({ chat: 42, messageId: menu.messageId, data: 'ok:1' });
    const answer = await fake.waitFor(() => fake.callbackAnswers.get(queryId));
    expect(answer).toMatchObject({ text: 'got ok:1', showAlert: false });
    await fake.waitFor(() => menu.text === 'Chosen: ok:1');
    // editMessageText without reply_markup drops the keyboard, as Telegram does.
    expect(menu.edits).toEqual(['Chosen: ok:1']);
    expect(menu.keyboard).toBeUndefined();
    expect(() => fake.press({ chat: 42, messageId: menu.messageId, data: 'ok:1' })).toThrow(/no button/);
    const again = await failure(bot.api.answerCallbackQuery(queryId));
    expect(again.description).toBe(
      'Bad Request: query is too old and response timeout expired or query ID is invalid',
    );
  });

  it('edits in place; Telegram’s 400s surface as GrammyErrors with its wording', async () => {
    const bot = newBot();
    fake.addChat(42);
    const keyboard = new InlineKeyboard().text('Stop', 'stop');
    const sent = await bot.api.sendMessage(42, 'Working…', { reply_markup: keyboard });
    const edited = await bot.api.editMessageText(42, sent.message_id, 'Done', { reply_markup: keyboard });
    expect(edited).toMatchObject({ message_id: sent.message_id, text: 'Done', reply_markup: keyboard });
    expect(fake.messages(42)).toHaveLength(1);
    expect(fake.lastMessage(42)?.edits).toEqual(['Done']);

    const same = await failure(
      bot.api.editMessageText(42, sent.message_id, 'Done', { reply_markup: keyboard }),
    );
    expect([same.error_code, same.description]).toEqual([400, NOT_MODIFIED]);
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => bot.api.editMessageText(42, 999, 'x'), 'Bad Request: message to edit not found'],
      [() => bot.api.sendMessage(777, 'hi'), 'Bad Request: chat not found'],
      [() => bot.api.sendMessage(42, '  '), 'Bad Request: message text is empty'],
      [() => bot.api.sendMessage(42, 'x'.repeat(4097)), 'Bad Request: message is too long'],
      [
        () => bot.api.sendMessage(42, 'x', { reply_markup: new InlineKeyboard().text('a', 'd'.repeat(65)) }),
        'Bad Request: BUTTON_DATA_INVALID',
      ],
      [
        () => bot.api.sendMessage(42, '<b>oops', { parse_mode: 'HTML' }),
        'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"',
      ],
      [
        () => bot.api.sendMessage(42, 'v1.2', { parse_mode: 'MarkdownV2' }),
        "Bad Request: can't parse entities: Character '.' is reserved and must be escaped with the preceding '\\'",
      ],
    ];
    for (const [call, description] of cases) expect((await failure(call())).description).toBe(description);

    const html = await bot.api.sendMessage(42, '<b>Done</b> in <code>3s</code> &lt;ok&gt;', {
      parse_mode: 'HTML',
    });
    expect(html.text).toBe('Done in 3s <ok>');
    expect(html.entities).toEqual([
      { type: 'bold', offset: 0, length: 4 },
      { type: 'code', offset: 8, length: 2 },
    ]);
    const markup = await bot.api.editMessageReplyMarkup(42, html.message_id, { reply_markup: keyboard });
    expect(markup).toMatchObject({ text: 'Done in 3s <ok>', reply_markup: keyboard });
    expect((await failure(bot.api.deleteMessage(42, 999))).description).toBe(
      'Bad Request: message to delete not found',
    );
    expect(await bot.api.deleteMessage(42, html.message_id)).toBe(true);
    expect(fake.messages(42).map((m) => m.messageId)).toEqual([sent.message_id]);
  });

  it('a 429 with auto-retry is waited out (retry_after seconds) and the message is sent once', async () => {
    const bot = newBot();
    bot.api.config.use(autoRetry());
    fake.addChat(42);
    fake.rateLimit({ method: 'sendMessage', chatId: 42, times: 1, retryAfter: 1 });
    const started = Date.now();
    await bot.api.sendMessage(42, 'eventually');
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(950);
    expect(waited).toBeLessThan(5000);
    expect(fake.callsTo('sendMessage').map((c) => c.status)).toEqual([429, 200]);
    expect(fake.messages(42).map((m) => m.text)).toEqual(['eventually']);

    fake.rateLimit({ method: 'sendMessage', times: 1, retryAfter: 3 });
    const plain = await failure(newBot().api.sendMessage(42, 'no retry'));
    expect([plain.error_code, plain.description, plain.parameters.retry_after]).toEqual([
      429,
      'Too Many Requests: retry after 3',
      3,
    ]);
  });

  it('webhook mode: deliveries carry the secret, failures are retried in order, getUpdates is a 409', async () => {
    const bot = newBot();
    bot.command('ping', (ctx) => ctx.reply('pong'));
    bot.on('message:text', (ctx) => ctx.reply(`echo ${ctx.message.text}`));
    const handleUpdate = webhookCallback(bot, 'http', { secretToken: 's3cret' });
    let failFirst = 1;
    const url = await listen((req, res) => {
      if (req.headers['x-telegram-bot-api-secret-token'] === 's3cret' && failFirst-- > 0) {
        res.writeHead(500).end();
        return;
      }
      void handleUpdate(req, res);
    });
    expect(await bot.api.setWebhook(url, { secret_token: 's3cret' })).toBe(true);
    expect(fake.webhook).toMatchObject({ url, secretToken: 's3cret' });

    fake.userSays({ chat: 42, text: '/ping' });
    fake.userSays({ chat: 42, text: 'second' });
    await fake.waitForMessage(42, (m) => m.text === 'echo second');
    // A delivery completes when the bot's handler has answered, which can be after its reply arrived.
    await fake.waitFor(() => fake.pendingUpdates() === 0);
    expect(fake.messages(42).map((m) => m.text)).toEqual(['pong', 'echo second']);
    const deliveries = fake.webhookDeliveries.map((d) => [d.status, d.secretSent]);
    expect(deliveries).toEqual([
      [500, 's3cret'],
      [200, 's3cret'],
      [200, 's3cret'],
    ]);
    const info = await bot.api.getWebhookInfo();
    expect(info).toMatchObject({
      url,
      pending_update_count: 0,
      last_error_message: 'Wrong response from the webhook: 500 Internal Server Error',
    });

    const conflict = await failure(bot.api.getUpdates());
    expect([conflict.error_code, conflict.description]).toEqual([
      409,
      "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first",
    ]);
    const replayed = fake.updates[0];
    expect((await fake.deliverRaw(replayed, { secret: 'wrong' })).status).toBe(401);
    expect((await fake.deliverRaw(replayed)).status).toBe(200);
    expect(fake.messages(42).map((m) => m.text)).toEqual(['pong', 'echo second', 'pong']);

    expect(await bot.api.deleteWebhook()).toBe(true);
    expect(fake.webhook).toBeNull();
  });

  it('webhook replies: a method in the answer to a delivery is executed', async () => {
    const bot = newBot({ client: { canUseWebhookReply: (method) => method === 'sendMessage' } });
    bot.on('message:text', (ctx) => ctx.reply('via reply'));
    const url = await listen(webhookCallback(bot, 'http'));
    await bot.api.setWebhook(url);
    fake.userSays({ chat: 5, text: 'hi' });
    await fake.waitForMessage(5, (m) => m.text === 'via reply');
    expect(fake.callsTo('sendMessage')).toMatchObject([{ status: 200, viaWebhookReply: true }]);
  });

  it('a second getUpdates terminates the held one with 409, stopping grammy’s polling', async () => {
    const bot = newBot();
    const { stopped } = await startPolling(bot);
    const other = await raw('getUpdates', { body: JSON.stringify({ timeout: 0 }), type: 'application/json' });
    expect(other).toEqual({ status: 200, json: { ok: true, result: [] } });
    const error = (await stopped) as GrammyError;
    expect(error).toBeInstanceOf(GrammyError);
    expect([error.error_code, error.description]).toEqual([
      409,
      'Conflict: terminated by other getUpdates request; make sure that only one bot instance is running',
    ]);
    expect(bot.isRunning()).toBe(false);
  });

  it('speaks the wire protocol: tokens, unknown methods, GET, form and multipart bodies', async () => {
    expect(await raw('getMe', { token: '1:wrong' })).toEqual({
      status: 401,
      json: { ok: false, error_code: 401, description: 'Unauthorized' },
    });
    expect(await raw('sendPigeon', { body: '{}', type: 'application/json' })).toEqual({
      status: 404,
      json: { ok: false, error_code: 404, description: 'Not Found' },
    });
    expect((await raw('getme')).json.result).toMatchObject({ username: 'clawlink_test_bot', is_bot: true });

    fake.addChat({ id: -5, type: 'group', title: 'Ops' });
    const form = new URLSearchParams({
      chat_id: '-5',
      text: 'from a form',
      reply_markup: JSON.stringify({ inline_keyboard: [[{ text: 'Go', callback_data: 'go' }]] }),
    });
    const viaForm = await raw('sendMessage', { body: form, type: 'application/x-www-form-urlencoded' });
    expect(viaForm.json.result).toMatchObject({ chat: { id: -5, title: 'Ops' }, text: 'from a form' });
    const multipart = new FormData();
    multipart.set('chat_id', '-5');
    multipart.set('text', 'from multipart');
    multipart.set('reply_parameters', JSON.stringify({ message_id: 1 }));
    const viaMultipart = await raw('sendMessage', { body: multipart });
    expect(viaMultipart.json.result).toMatchObject({ message_id: 2, reply_to_message: { message_id: 1 } });
    expect(fake.lastMessage(-5)?.keyboard).toBeUndefined();
    expect(fake.messages(-5)[0]?.keyboard?.inline_keyboard[0]?.[0]?.callback_data).toBe('go');

    const bot = newBot();
    await bot.api.setMyCommands([{ command: 'ping', description: 'Check the bot' }]);
    expect(fake.commands()).toEqual([{ command: 'ping', description: 'Check the bot' }]);
    expect(await bot.api.getMyCommands()).toEqual(fake.commands());
  });

  it('getUpdates honours offset and limit, and injected failures and outages reach grammy', async () => {
    const ids = ['a', 'b', 'c'].map((text) => fake.userSays({ chat: 9, text }).update_id);
    const bot = newBot();
    expect((await bot.api.getUpdates({ limit: 2 })).map((u) => u.update_id)).toEqual(ids.slice(0, 2));
    expect((await bot.api.getUpdates({ offset: ids[1] })).map((u) => u.message?.text)).toEqual(['b', 'c']);
    expect(fake.pendingUpdates()).toBe(2);

    fake.failNext('getMe', { status: 502, body: '<html>502 Bad Gateway</html>' });
    expect(await bot.api.getMe().catch((e: unknown) => e)).toBeInstanceOf(HttpError);
    fake.failNext('*', { status: 500 });
    expect((await failure(bot.api.getMe())).description).toBe('Internal Server Error');
    fake.setDown(true);
    expect(await bot.api.getMe().catch((e: unknown) => e)).toBeInstanceOf(HttpError);
    fake.setDown(false);
    expect((await bot.api.getMe()).id).toBe(fake.bot.id);
  });
});
