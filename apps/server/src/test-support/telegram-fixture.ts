import { randomBytes } from 'node:crypto';
import { type FakeTelegram, type FakeTelegramMessage, startFakeTelegram } from '@ccl/testing';
import { expect } from 'vitest';
import { type Json, readJson, startTestServer, type TestServer, waitFor } from './test-server.ts';

export interface TelegramWorld {
  server: TestServer;
  fake: FakeTelegram;
  /** Calls the API as `user` (their API key). */
  api(user: string, method: string, path: string, body?: unknown): Promise<Response>;
  /** Adds a user with an API key and links Telegram account `tgId` to them, through the bot. */
  addLinkedUser(user: string, role: string, tgId: number): Promise<void>;
  /** `tgId` says `text` in its private chat; resolves with the bot's next message there. */
  say(tgId: number, text: string, opts?: { replyTo?: number }): Promise<BotMessage>;
  /** A card with an echo run, submitted through the API. */
  submitEcho(
    user: string,
    project: string,
    echo: Record<string, unknown>,
  ): Promise<{ taskId: string; executionId: string; number: number }>;
  waitForState(executionId: string, states: string[], timeoutMs?: number): Promise<Json>;
  stop(): Promise<void>;
}

export type BotMessage = FakeTelegramMessage;

/** A token shaped like @BotFather's, different in every test: the canary. */
export const botToken = () =>
  `${700_000 + Math.floor(Math.random() * 99_999)}:AA${randomBytes(25).toString('base64url')}`;

/** The portal with its bot on, against a loopback fake of the Bot API. */
export async function startTelegramWorld(
  opts: { env?: Record<string, string>; webhook?: boolean } = {},
): Promise<TelegramWorld> {
  const fake = await startFakeTelegram({ token: botToken() });
  const env = {
    TELEGRAM_BOT_TOKEN: fake.token,
    TELEGRAM_API_ROOT: fake.url,
    TELEGRAM_CHAT_INTERVAL_MS: '0',
    ...opts.env,
  };
  const server = await startTestServer({ backend: 'postgres', env });
  const keys = new Map<string, string>();
  const api = (user: string, method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${keys.get(user)}`,
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const say = async (tgId: number, text: string, sayOpts: { replyTo?: number } = {}) => {
    const before = fake.messages(tgId).length;
    fake.userSays({
      chat: tgId,
      from: { id: tgId, username: `tg${tgId}` },
      text,
      ...(sayOpts.replyTo ? { replyTo: sayOpts.replyTo } : {}),
    });
    return fake.waitFor(() => fake.messages(tgId)[before], 15_000);
  };
  return {
    server,
    fake,
    api,
    say,
    async addLinkedUser(user, role, tgId) {
      const { key } = await server.addUserWithKey(user, role);
      keys.set(user, key);
      const res = await api(user, 'POST', '/api/auth/telegram/link');
      expect(res.status).toBe(201);
      const { code, deep_link } = await readJson(res);
      expect(deep_link).toBe(`https://t.me/${fake.bot.username}?start=${code}`);
      const answer = await say(tgId, `/start ${code}`);
      expect(answer.text).toContain(`now acts as ${user}`);
    },
    async submitEcho(user, project, echo) {
      const res = await api(user, 'POST', '/api/tasks', {
        project,
        title: `echo ${JSON.stringify(echo)}`,
        prompt: 'echo for telegram',
        agent_type: 'echo',
        context: { echo },
      });
      expect(res.status, await res.clone().text()).toBe(201);
      const card = await readJson(res);
      return { taskId: card.id, executionId: card.latest_execution.id, number: card.number };
    },
    async waitForState(executionId, states, timeoutMs = 20_000) {
      return waitFor(async () => {
        const row = await server.prisma.execution.findUnique({ where: { id: executionId } });
        return row && states.includes(row.state) ? row : null;
      }, timeoutMs);
    },
    async stop() {
      await server.stop();
      await fake.close();
    },
  };
}
