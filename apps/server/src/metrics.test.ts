import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

const TOKEN = 'metrics-token-0123456789';

describe('GET /metrics', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => server?.stop());

  const scrape = async () => {
    const res = await fetch(`${server.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  const value = (text: string, series: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it('counts runs by state and agent, their durations, the queue, approvals waiting, workers and requests', async () => {
    const json = { 'content-type': 'application/json' };
    const post = (body: unknown) =>
      fetch(`${server.url}/api/tasks`, { method: 'POST', headers: json, body: JSON.stringify(body) });
    const done = await readJson(
      await post({
        project: 'metrics',
        title: 'done',
        prompt: 'x',
        agent_type: 'echo',
        context: { echo: { steps: 1, delay_ms: 5 } },
      }),
    );
    const waiting = await readJson(
      await post({
        project: 'metrics',
        title: 'waits',
        prompt: 'x',
        agent_type: 'echo',
        context: { echo: { steps: 2, delay_ms: 5, ask_approval: true } },
      }),
    );
    await waitFor(
      async () =>
        (await server.prisma.execution.findUnique({ where: { id: done.latest_execution.id } }))?.state ===
        'COMPLETED',
    );
    await waitFor(
      async () =>
        (await server.prisma.execution.findUnique({ where: { id: waiting.latest_execution.id } }))?.state ===
        'WAITING',
    );
    // The duration histogram is fed by the change notice of the run's end.
    const text = await waitFor(async () => {
      const t = await scrape();
      return (value(t, 'clawlink_execution_duration_seconds_count{agent="echo",state="completed"}') ?? 0) >= 1
        ? t
        : null;
    });
    // The time it ran, as its row says (started to finished), not a guess.
    const ran = await server.prisma.execution.findUniqueOrThrow({ where: { id: done.latest_execution.id } });
    const seconds = ((ran.finishedAt?.getTime() ?? 0) - (ran.startedAt?.getTime() ?? 0)) / 1000;
    expect(
      value(text, 'clawlink_execution_duration_seconds_sum{agent="echo",state="completed"}'),
    ).toBeCloseTo(seconds, 3);
    expect(value(text, 'clawlink_executions{state="completed",agent="echo"}')).toBe(1);
    expect(value(text, 'clawlink_executions{state="waiting",agent="echo"}')).toBe(1);
    expect(value(text, 'clawlink_approvals_waiting')).toBe(1);
    expect(text).toMatch(/^clawlink_queue_jobs\{state="active"\} \d+$/m);
    expect(text).toMatch(/^clawlink_queue_oldest_pending_age_seconds \d/m);
    expect(text).toMatch(
      /^clawlink_worker_heartbeat_age_seconds\{worker="[0-9a-f-]{36}",host="[^"]+"\} [\d.]+$/m,
    );
    expect(value(text, 'clawlink_build_info{queue="postgres"}')).toBe(1);
    // Requests by route template, never by raw URL (ids would make a series per task).
    expect(text).toMatch(
      /^clawlink_http_request_duration_seconds_count\{method="POST",route="\/api\/tasks",status="201"\} 2$/m,
    );
    expect(text).not.toContain(done.id);
    expect(text).toContain('process_cpu_user_seconds_total');
    expect(text).toContain('nodejs_eventloop_lag_seconds');
    // A waiting run holds its worker slot until decided: end it, so the server stops promptly.
    await fetch(`${server.url}/api/executions/${waiting.latest_execution.id}/cancel`, { method: 'POST' });
    await waitFor(
      async () =>
        (await server.prisma.execution.findUnique({ where: { id: waiting.latest_execution.id } }))?.state ===
        'CANCELLED',
    );
  });

  it('answers another machine only with METRICS_TOKEN as the bearer', async () => {
    const from = (headers: Record<string, string> = {}) =>
      server.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.1.2.3', headers });
    expect((await from()).statusCode).toBe(401);
    expect((await from({ authorization: 'Bearer wrong-token-0123456789' })).statusCode).toBe(401);
    expect((await from({ authorization: `Bearer ${TOKEN}x` })).json()).toEqual({
      error: 'unauthorized',
      message: 'send METRICS_TOKEN as "Authorization: Bearer <token>"',
    });
    const ok = await from({ authorization: `Bearer ${TOKEN}` });
    expect(ok.statusCode).toBe(200);
    expect(ok.body).toContain('clawlink_executions');
    // The token is a secret: never in the metrics or the log.
    expect(ok.body).not.toContain(TOKEN);
    expect(server.logs()).not.toContain(TOKEN);
  });
});
