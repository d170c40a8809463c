import { afterEach, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  req?: { method: string; url: string; remoteAddress?: string };
  res?: { statusCode: number };
  responseTime?: number;
}

/** Opens a session, submits a task and polls its state once; answers the lines the server logged. */
async function pollOnce(server: TestServer): Promise<{ lines: Line[]; sessionId: string }> {
  const session = await readJson(
    await fetch(`${server.url}/api/runtime/sessions`, { method: 'POST', headers: JSON_HEADERS }),
  );
  const submitted = await readJson(
    await fetch(`${server.url}/api/runtime/tasks/submit`, {
      method: 'POST',
      headers: JSON_HEADERS,
      body: JSON.stringify({
        agent_type: 'echo',
        prompt: 'log me',
        context: {},
        session_id: session.session_id,
      }),
    }),
  );
  const poll = await fetch(
    `${server.url}/api/runtime/tasks/${submitted.task_id}/state?session_id=${session.session_id}`,
  );
  expect(poll.status).toBe(200);
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${server.url}/api/no-such-route`)).status).toBe(404);
  const lines = server
    .logs()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line)
    .filter((l) => l.msg === 'request completed' || l.msg === 'incoming request');
  return { lines, sessionId: String(session.session_id) };
}

describe('access log', () => {
  let server: TestServer | undefined;
  afterEach(async () => server?.stop());

  it('writes one line per answered request, polls and probes only at debug, never a session id', async () => {
    server = await startTestServer({ backend: 'redis', env: { LOG_LEVEL: 'debug' }, role: 'api' });
    const { lines, sessionId } = await pollOnce(server);
    expect(lines.filter((l) => l.msg === 'incoming request')).toEqual([]);
    const byUrl = (part: string) => lines.filter((l) => l.req?.url.includes(part));

    const [submit] = byUrl('/api/runtime/tasks/submit');
    expect(submit).toMatchObject({ level: 30, req: { method: 'POST', remoteAddress: '127.0.0.1' } });
    expect(submit?.res?.statusCode).toBe(200);
    expect(submit?.reqId).toMatch(/^[0-9a-f-]{36}$/);
    expect(submit?.responseTime).toBeGreaterThan(0);
    expect(byUrl('/api/runtime/tasks/submit')).toHaveLength(1);

    const [poll] = byUrl('/state');
    expect(poll?.level).toBe(20);
    expect(poll?.req?.url).toMatch(/\/state\?session_id=\[redacted\]$/);
    expect(byUrl('/healthz')[0]?.level).toBe(20);
    // Failures stay at info even on a routine path.
    expect(byUrl('/api/no-such-route')[0]).toMatchObject({ level: 30, res: { statusCode: 404 } });
    expect(server.logs()).not.toContain(sessionId);
  });

  it('leaves polls and probes out at info', async () => {
    server = await startTestServer({ backend: 'redis', env: { LOG_LEVEL: 'info' }, role: 'api' });
    const { lines } = await pollOnce(server);
    expect(lines.map((l) => l.req?.url.replace(/\/tasks\/[^/]+\//, '/tasks/:id/').split('?')[0])).toEqual([
      '/api/runtime/sessions',
      '/api/runtime/tasks/submit',
      '/api/no-such-route',
    ]);
  });
});
