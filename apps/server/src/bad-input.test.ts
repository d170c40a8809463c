import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

const JSON_HEADERS = { 'content-type': 'application/json', accept: 'application/json' };

describe('bad input gets a clear 4xx and changes nothing', () => {
  let server: TestServer;
  let sessionId: string;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { BODY_LIMIT: '4096' } });
    const client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
    sessionId = client.sessionId as string;
  });
  afterAll(async () => server?.stop());

  const submit = (body: string) =>
    fetch(`${server.url}/api/runtime/tasks/submit`, { method: 'POST', headers: JSON_HEADERS, body });
  const counts = async () => ({
    tasks: await server.prisma.task.count(),
    executions: await server.prisma.execution.count(),
  });

  it.each([
    ['malformed JSON', '{"agent_type": "echo",', 400, 'invalid_json'],
    ['a JSON array', '[1,2]', 400, 'invalid'],
    ['missing prompt', () => JSON.stringify({ agent_type: 'echo', session_id: sessionId }), 400, 'invalid'],
    [
      'wrong type',
      () => JSON.stringify({ agent_type: 7, prompt: 'x', session_id: sessionId }),
      400,
      'invalid',
    ],
    [
      'empty prompt',
      () => JSON.stringify({ agent_type: 'echo', prompt: '', session_id: sessionId }),
      400,
      'invalid',
    ],
    [
      'bad session id',
      JSON.stringify({ agent_type: 'echo', prompt: 'x', session_id: 'nope' }),
      400,
      'invalid',
    ],
    [
      'unknown session',
      JSON.stringify({ agent_type: 'echo', prompt: 'x', session_id: '00000000-0000-4000-8000-000000000000' }),
      404,
      'not_found',
    ],
    [
      'oversized body',
      () => JSON.stringify({ agent_type: 'echo', prompt: 'x'.repeat(10_000), session_id: sessionId }),
      413,
      'payload_too_large',
    ],
  ])('%s', async (_name, body, status, code) => {
    const before = await counts();
    const res = await submit(typeof body === 'function' ? body() : body);
    expect(res.status).toBe(status);
    const json = await readJson(res);
    expect(json).toMatchObject({ error: code, message: expect.any(String) });
    expect(JSON.stringify(json)).not.toMatch(/at .*\.ts:\d+/);
    expect(await counts()).toEqual(before);
  });

  it('names the field in validation errors', async () => {
    const res = await submit(JSON.stringify({ agent_type: 'echo', session_id: sessionId }));
    expect((await readJson(res)).message).toMatch(/body\.prompt/);
  });

  it('refuses an unknown agent_type with 400 listing the known ones', async () => {
    const before = await counts();
    const res = await submit(JSON.stringify({ agent_type: 'skynet', prompt: 'x', session_id: sessionId }));
    expect(res.status).toBe(400);
    const { message } = await readJson(res);
    expect(message).toContain("unknown agent_type 'skynet'");
    for (const known of ['general-purpose', 'echo', 'claude', 'openai', 'ollama', 'opendevin', 'goose']) {
      expect(message).toContain(known);
    }
    expect(await counts()).toEqual(before);
  });

  it('refuses an unavailable runtime naming why', async () => {
    const res = await submit(JSON.stringify({ agent_type: 'claude', prompt: 'x', session_id: sessionId }));
    expect(res.status).toBe(400);
    expect((await readJson(res)).message).toMatch(/agent 'claude' is not available/);
  });

  it('refuses an unknown skill', async () => {
    const res = await submit(
      JSON.stringify({ agent_type: 'echo', prompt: 'x', session_id: sessionId, context: { skill: 'nope' } }),
    );
    expect(res.status).toBe(400);
    expect((await readJson(res)).message).toMatch(/unknown skill 'nope'; known: .*code-review/);
  });

  it('answers 404 for unknown ids and routes', async () => {
    for (const path of [
      '/api/executions/00000000-0000-4000-8000-000000000000',
      '/api/tasks/00000000-0000-4000-8000-000000000000',
      '/api/nothing-here',
    ]) {
      const res = await fetch(`${server.url}${path}`);
      expect(res.status, path).toBe(404);
      expect(await readJson(res)).toMatchObject({ error: 'not_found' });
    }
    const bad = await fetch(`${server.url}/api/tasks/not-a-uuid`);
    expect(bad.status).toBe(400);
  });

  it('stores SQL and HTML verbatim and returns them JSON-escaped', async () => {
    const nasty = `'); DROP TABLE tasks; -- <script>alert("x")</script>`;
    const res = await submit(
      JSON.stringify({
        agent_type: 'echo',
        prompt: nasty,
        session_id: sessionId,
        context: { description: nasty, echo: { steps: 0 } },
      }),
    );
    expect(res.status).toBe(200);
    const raw = await res.text();
    expect(raw).not.toContain('<script>');
    const state = JSON.parse(raw);
    expect(state.metadata.title).toBe(nasty);
    const task = await server.prisma.task.findUniqueOrThrow({ where: { id: state.task_id } });
    expect(task.title).toBe(nasty);
    expect(await server.prisma.task.count()).toBeGreaterThan(0);
  });

  it('rejects a board body that tries to set fields it may not', async () => {
    const res = await fetch(`${server.url}/api/tasks/00000000-0000-4000-8000-000000000000`, {
      method: 'PATCH',
      headers: JSON_HEADERS,
      body: JSON.stringify({ creator_id: 'admin' }),
    });
    expect(res.status).toBe(400);
  });
});
