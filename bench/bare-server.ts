// The baseline: bare Fastify routes answering the same JSON a poll returns (either adapter's).
import Fastify from 'fastify';
import { stopWithParent } from './with-parent.ts';

const body = JSON.parse(process.argv[2] ?? '{}');
const app = Fastify({ logger: false });
app.get('/api/runtime/tasks/:task_id/state', async () => body);
app.get('/api/runtime/executions/:id', async () => body);
// The webhook baseline: takes the same delivery, parses it, answers 202 (no signature, no database).
app.post('/api/github/webhook', async (request, reply) =>
  reply.code(202).send({ status: 'accepted', delivery: request.headers['x-github-delivery'] }),
);
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
);
stopWithParent();
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
