import { startFakeTelegram } from '@ccl/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { webhookSecret } from './telegram/service.ts';
import { freePort } from './test-support/run-cli.ts';
import { botToken } from './test-support/telegram-fixture.ts';
import { startTestServer, waitFor } from './test-support/test-server.ts';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const clean of cleanups.reverse()) await clean();
});

describe('webhook mode', () => {
  it('registers the webhook with its secret, refuses a wrong secret (401) and ignores a replayed update', async () => {
    const fake = await startFakeTelegram({ token: botToken() });
    cleanups.push(() => fake.close());
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/api/telegram/webhook`;
    const server = await startTestServer({
      backend: 'postgres',
      env: {
        PORT: String(port),
        TELEGRAM_BOT_TOKEN: fake.token,
        TELEGRAM_API_ROOT: fake.url,
        TELEGRAM_WEBHOOK_URL: url,
        TELEGRAM_CHAT_INTERVAL_MS: '0',
      },
    });
    cleanups.push(() => server.stop());
    await fake.waitFor(() => fake.webhook?.url === url);
    expect(fake.webhook).toMatchObject({ url });

    // The real way in: Telegram POSTs the update with the secret it was given.
    fake.userSays({ chat: 4242, from: { id: 4242, username: 'someone' }, text: '/help' });
    const help = await fake.waitFor(() => fake.messages(4242)[0]);
    expect(help.text).toContain('CoderClawLink bot. Commands:');

    const update = {
      update_id: 900_001,
      message: {
        message_id: 77,
        date: Math.floor(Date.now() / 1000),
        chat: { id: 4243, type: 'private' },
        from: { id: 4243, is_bot: false, first_name: 'x' },
        text: '/help',
        entities: [{ type: 'bot_command', offset: 0, length: 5 }],
      },
    };
    fake.addChat(4243);
    const wrong = await fake.deliverRaw(update, { secret: 'not-the-secret-at-all' });
    expect(wrong.status).toBe(401);
    const none = await fake.deliverRaw(update, { secret: null });
    expect(none.status).toBe(401);
    expect(await server.prisma.telegramUpdate.count({ where: { updateId: 900_001n } })).toBe(0);

    const secret = webhookSecret(server.deps.config);
    const first = await fake.deliverRaw(update, { secret });
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toEqual({ status: 'accepted' });
    const replay = await fake.deliverRaw(update, { secret });
    expect(replay.status).toBe(200);
    expect(JSON.parse(replay.body)).toEqual({ status: 'duplicate' });
    await fake.waitFor(() => fake.messages(4243)[0]);
    await new Promise((r) => setTimeout(r, 300));
    expect(fake.messages(4243)).toHaveLength(1);

    // Long polling is off while the webhook is set: the bot never called getUpdates.
    expect(fake.calls.filter((c) => c.method === 'getUpdates')).toHaveLength(0);
  });
});

describe('several api processes', () => {
  it('exactly one polls; when it stops another takes over', async () => {
    const fake = await startFakeTelegram({ token: botToken() });
    cleanups.push(() => fake.close());
    const env = {
      TELEGRAM_BOT_TOKEN: fake.token,
      TELEGRAM_API_ROOT: fake.url,
      TELEGRAM_CHAT_INTERVAL_MS: '0',
    };
    const first = await startTestServer({ backend: 'postgres', env, role: 'api' });
    cleanups.push(() => first.stop());
    const second = await startTestServer({ backend: 'postgres', env, role: 'api', shareDatabaseWith: first });
    cleanups.push(() => second.stop());
    await waitFor(async () => first.telegram?.isLeader || second.telegram?.isLeader);
    await new Promise((r) => setTimeout(r, 500));
    expect([first.telegram?.isLeader, second.telegram?.isLeader].filter(Boolean)).toHaveLength(1);
    // Two pollers would terminate each other's getUpdates with 409.
    expect(fake.calls.filter((c) => c.method === 'getUpdates' && c.status === 409)).toHaveLength(0);

    fake.userSays({ chat: 5151, from: { id: 5151 }, text: '/help' });
    await fake.waitFor(() => fake.messages(5151)[0]);

    const [leader, standby] = first.telegram?.isLeader ? [first, second] : [second, first];
    await leader.stopServer();
    await waitFor(async () => standby.telegram?.isLeader, 15_000, 100);
    fake.userSays({ chat: 5151, from: { id: 5151 }, text: '/help' });
    await fake.waitFor(() => fake.messages(5151)[1], 15_000);
  }, 40_000);
});
