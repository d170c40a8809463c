import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BACKENDS, readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

/** PostgreSQL ends every connection of the database (a restart, a failover, an admin's terminate). */
async function terminateAll(databaseUrl: string): Promise<number> {
  const admin = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
  await admin.connect();
  try {
    const res = await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [new URL(databaseUrl).pathname.slice(1)],
    );
    return res.rowCount ?? 0;
  } finally {
    await admin.end();
  }
}

describe.each(BACKENDS)('every database connection terminated (%s queue)', (backend) => {
  let server: TestServer;
  const crashes: unknown[] = [];
  const onCrash = (err: unknown) => crashes.push(err);
  beforeAll(async () => {
    process.on('unhandledRejection', onCrash);
    server = await startTestServer({ backend });
  });
  afterAll(async () => {
    process.off('unhandledRejection', onCrash);
    await server?.stop();
  });

  it('keeps the process up and serving: readiness, submissions and state reads (it spun at 100 % CPU)', async () => {
    const headers = { 'content-type': 'application/json' };
    const session = await readJson(
      await fetch(`${server.url}/api/runtime/sessions`, { method: 'POST', headers }),
    );
    expect(await terminateAll(server.databaseUrl)).toBeGreaterThan(2);
    await new Promise((r) => setTimeout(r, 500));
    await waitFor(async () => (await fetch(`${server.url}/readyz`)).status === 200, 20_000, 200);
    const submitted = await waitFor(
      async () => {
        const res = await fetch(`${server.url}/api/runtime/tasks/submit`, {
          method: 'POST',
          headers,
          body: JSON.stringify({
            agent_type: 'echo',
            prompt: 'after',
            context: { echo: { steps: 1, delay_ms: 10 } },
            session_id: session.session_id,
          }),
        });
        return res.status === 200 ? readJson(res) : null;
      },
      20_000,
      200,
    );
    await waitFor(
      async () => {
        const res = await fetch(
          `${server.url}/api/runtime/tasks/${submitted.task_id}/state?session_id=${session.session_id}`,
        );
        return res.status === 200 && (await readJson(res)).state === 'completed';
      },
      20_000,
      100,
    );
    expect(crashes.map(String)).toEqual([]);
  }, 60_000);
});
