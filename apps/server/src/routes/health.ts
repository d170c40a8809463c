import { z } from 'zod';
import type { AppInstance } from '../app.ts';
import { open } from '../permission-matrix.ts';

const readySchema = z.object({
  status: z.enum(['ready', 'not_ready']),
  database: z.string(),
  queue: z.string(),
});

export async function healthRoutes(app: AppInstance): Promise<void> {
  app.get(
    '/healthz',
    {
      config: { access: open('liveness probe; says only "ok"') },
      schema: {
        operationId: 'healthz',
        tags: ['health'],
        summary: 'The process is alive',
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      config: { access: open('readiness probe; says whether the database and queue answer') },
      schema: {
        operationId: 'readyz',
        tags: ['health'],
        summary: 'Database and queue are reachable',
        response: { 200: readySchema, 503: readySchema },
      },
    },
    async (_request, reply) => {
      const check = async (fn: () => Promise<unknown>) => {
        try {
          await fn();
          return 'ok';
        } catch (err) {
          return `unreachable: ${(err as Error).message.slice(0, 120)}`;
        }
      };
      const [database, queue] = await Promise.all([
        check(() => app.deps.prisma.$queryRaw`SELECT 1`),
        check(() => app.queuePing()),
      ]);
      const ready = database === 'ok' && queue === 'ok';
      return reply.status(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', database, queue });
    },
  );
}
