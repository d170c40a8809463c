// The baseline: a bare Fastify route answering the same JSON a state read returns.
import Fastify from 'fastify';

const body = JSON.parse(process.argv[2] ?? '{}');
const app = Fastify({ logger: false });
app.get('/api/runtime/tasks/:task_id/state', async () => body);
await app.listen({ host: '127.0.0.1', port: 0 });
const address = app.server.address();
process.stdout.write(
  `${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`,
);
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
