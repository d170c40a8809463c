import { errorBodySchema } from '@ccl/contracts';
import { createTelegramLinkCode, telegramLinkOf, unlinkTelegram } from '@ccl/core';
import type { Update } from 'grammy/types';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { actorOf, open, signedIn } from '../permission-matrix.ts';
import { webhookSecretMatches } from '../telegram/service.ts';

const errors = { 400: errorBodySchema, 401: errorBodySchema, 403: errorBodySchema, 404: errorBodySchema };
const linkStatusSchema = z.object({
  /** A bot is configured on this server (TELEGRAM_BOT_TOKEN). */
  enabled: z.boolean(),
  bot_username: z.string().nullable(),
  linked: z
    .object({ telegram_user_id: z.string(), username: z.string().nullable(), linked_at: z.string() })
    .nullable(),
});
const linkCodeSchema = z.object({
  code: z.string(),
  expires_at: z.string(),
  /** Opens the chat with the bot and sends /start <code>; null while the bot's name is unknown. */
  deep_link: z.string().nullable(),
  /** What to send the bot instead of opening the link. */
  command: z.string(),
});
const updateSchema = z.looseObject({ update_id: z.number().int().nonnegative() });

const notConfigured = {
  error: 'not_configured',
  message: 'Telegram is not configured on this server (set TELEGRAM_BOT_TOKEN)',
};

/** The Telegram webhook, and linking a Telegram account to the signed-in user (docs/telegram.md). */
export async function telegramRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;

  app.post(
    '/api/telegram/webhook',
    {
      config: {
        access: open(
          'Telegram itself; X-Telegram-Bot-Api-Secret-Token is compared in constant time before anything else',
        ),
      },
      schema: {
        operationId: 'telegramWebhook',
        tags: ['telegram'],
        summary: 'Receives Telegram updates when TELEGRAM_WEBHOOK_URL is set',
        description: 'An update_id seen before is answered 200 "duplicate" and has no second effect.',
        response: {
          200: z.object({ status: z.enum(['accepted', 'duplicate']) }),
          400: errorBodySchema,
          401: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const telegram = app.telegram;
      if (!telegram) return reply.code(503).send(notConfigured);
      if (!webhookSecretMatches(deps.config, request.headers['x-telegram-bot-api-secret-token'])) {
        return reply
          .code(401)
          .send({ error: 'unauthorized', message: 'missing or wrong X-Telegram-Bot-Api-Secret-Token' });
      }
      const parsed = updateSchema.safeParse(request.body);
      if (!parsed.success) {
        return reply
          .code(400)
          .send({ error: 'invalid', message: 'the body is not a Telegram update (update_id)' });
      }
      const status = await telegram.receive(parsed.data as unknown as Update);
      return reply.code(200).send({ status });
    },
  );

  app.get(
    '/api/auth/telegram',
    {
      config: { access: signedIn("the caller's own Telegram link") },
      schema: {
        operationId: 'getTelegramLink',
        tags: ['telegram'],
        summary: 'Whether the bot is on, its name, and the Telegram account linked to you',
        response: { 200: linkStatusSchema, ...errors },
      },
    },
    async (request) => {
      const ctx = actorOf(request);
      const link = await telegramLinkOf(deps, ctx.actor.userId);
      return {
        enabled: !!app.telegram,
        bot_username: (await app.telegram?.username()) ?? null,
        linked: link && {
          telegram_user_id: link.telegramUserId,
          username: link.username,
          linked_at: link.linkedAt.toISOString(),
        },
      };
    },
  );

  app.post(
    '/api/auth/telegram/link',
    {
      config: { access: signedIn('a code that links a Telegram account to the caller only') },
      schema: {
        operationId: 'createTelegramLinkCode',
        tags: ['telegram'],
        summary: 'A single-use code (10 minutes) that links the Telegram account sending it to you',
        response: { 201: linkCodeSchema, ...errors, 503: errorBodySchema },
      },
    },
    async (request, reply) => {
      const telegram = app.telegram;
      if (!telegram) return reply.code(503).send(notConfigured);
      const ctx = actorOf(request);
      const { code, expiresAt } = await createTelegramLinkCode(deps, ctx, ctx.actor.userId);
      const username = await telegram.username();
      return reply.code(201).send({
        code,
        expires_at: expiresAt.toISOString(),
        deep_link: username ? `https://t.me/${username}?start=${code}` : null,
        command: `/start ${code}`,
      });
    },
  );

  app.delete(
    '/api/auth/telegram',
    {
      config: { access: signedIn("the caller's own Telegram link") },
      schema: {
        operationId: 'unlinkTelegram',
        tags: ['telegram'],
        summary: 'Unlink your Telegram account',
        response: { 200: z.object({ unlinked: z.boolean() }), ...errors },
      },
    },
    async (request) => {
      const ctx = actorOf(request);
      return { unlinked: await unlinkTelegram(deps, ctx, ctx.actor.userId) };
    },
  );
}
