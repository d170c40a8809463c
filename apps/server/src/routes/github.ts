import { errorBodySchema } from '@ccl/contracts';
import { processDelivery, recordDelivery, verifyWebhookSignature } from '@ccl/core';
import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { open } from '../permission-matrix.ts';

const answerSchema = z.object({ status: z.enum(['accepted', 'duplicate']), delivery: z.string() });
const DELIVERY = /^[A-Za-z0-9-]{1,100}$/;
const EVENT = /^[a-z_]{1,60}$/;

/**
 * POST /api/github/webhook: GitHub's deliveries. The body is kept as bytes so the signature is
 * checked over exactly what GitHub signed; the answer comes after one insert, the work after it.
 */
export async function githubRoutes(app: AppInstance): Promise<void> {
  const { deps } = app;
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(
    'application/json',
    { parseAs: 'buffer', bodyLimit: 25 * 1024 * 1024 },
    (_request, body, done) => done(null, body),
  );

  app.post(
    '/api/github/webhook',
    {
      config: {
        access: open(
          'GitHub itself; the X-Hub-Signature-256 HMAC of the raw body under GITHUB_WEBHOOK_SECRET is checked before anything else',
        ),
      },
      schema: {
        operationId: 'githubWebhook',
        tags: ['github'],
        summary: 'Receives GitHub webhook deliveries (comments, reviews, check suites, pull requests)',
        description:
          'Configure the webhook with content type application/json and the secret in GITHUB_WEBHOOK_SECRET. ' +
          'A delivery id seen before is answered 200 "duplicate" and has no second effect.',
        response: {
          200: answerSchema,
          202: answerSchema,
          400: errorBodySchema,
          401: errorBodySchema,
          503: errorBodySchema,
        },
      },
    },
    async (request, reply) => {
      const secret = deps.config.GITHUB_WEBHOOK_SECRET;
      if (!secret) {
        return reply.code(503).send({
          error: 'not_configured',
          message: 'GitHub webhooks are not configured on this server (set GITHUB_WEBHOOK_SECRET)',
        });
      }
      const raw = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const signature = request.headers['x-hub-signature-256'];
      if (!verifyWebhookSignature(secret, raw, typeof signature === 'string' ? signature : undefined)) {
        return reply.code(401).send({
          error: 'unauthorized',
          message: 'missing or wrong X-Hub-Signature-256 for this body',
        });
      }
      const delivery = request.headers['x-github-delivery'];
      const event = request.headers['x-github-event'];
      if (typeof delivery !== 'string' || !DELIVERY.test(delivery)) {
        return reply
          .code(400)
          .send({ error: 'invalid', message: 'X-GitHub-Delivery header missing or malformed' });
      }
      if (typeof event !== 'string' || !EVENT.test(event)) {
        return reply
          .code(400)
          .send({ error: 'invalid', message: 'X-GitHub-Event header missing or malformed' });
      }
      let payload: unknown;
      try {
        payload = JSON.parse(raw.toString('utf8'));
      } catch {
        return reply.code(400).send({ error: 'invalid', message: 'the body is not JSON' });
      }
      if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
        return reply.code(400).send({ error: 'invalid', message: 'the body is not a JSON object' });
      }
      const status = await recordDelivery(deps, { id: delivery, event, payload });
      if (status === 'accepted') {
        // After the answer: GitHub waits 10 s at most, and redelivers nothing it got a 2xx for.
        setImmediate(() => {
          processDelivery(deps, delivery).catch((err) =>
            request.log.error({ err, delivery }, 'GitHub delivery processing failed'),
          );
        });
      }
      return reply.code(status === 'accepted' ? 202 : 200).send({ status, delivery });
    },
  );
}
