import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

/** Reads an SSE stream until `event: end` (or `stopAfter` messages) and returns the parsed messages. */
async function readSse(
  url: string,
  headers: Record<string, string> = {},
  stopAfter = Number.POSITIVE_INFINITY,
) {
  const controller = new AbortController();
  const res = await fetch(url, {
    headers: { accept: 'text/event-stream', ...headers },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const messages: SseMessage[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut = buffer.indexOf('\n\n');
    while (cut >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      cut = buffer.indexOf('\n\n');
      const msg: SseMessage = {};
      for (const line of block.split('\n')) {
        const [field, ...rest] = line.split(': ');
        if (field === 'id' || field === 'event' || field === 'data') msg[field] = rest.join(': ');
      }
      if (msg.event) messages.push(msg);
      if (msg.event === 'end' || messages.length >= stopAfter) {
        controller.abort();
        return messages;
      }
    }
  }
  return messages;
}

describe('execution events over SSE', () => {
  let server: TestServer;
  let client: CoderClawClient;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
  });
  afterAll(async () => server?.stop());

  it('streams every event live, in order, and ends when the execution is terminal', async () => {
    const { execution_uuid } = await client.submit('echo', 'stream me', {
      echo: { steps: 3, delay_ms: 150 },
    });
    const messages = await readSse(`${server.url}/api/executions/${execution_uuid}/events`);
    const ids = messages.filter((m) => m.id).map((m) => Number(m.id));
    expect(ids).toEqual(ids.map((_, i) => i + 1));
    const states = messages
      .filter((m) => m.event === 'state')
      .map((m) => JSON.parse(m.data ?? '{}').data.to as string);
    expect(states).toEqual(['planning', 'running', 'completed']);
    expect(messages.filter((m) => m.event === 'progress')).toHaveLength(3);
    expect(messages.at(-1)?.event).toBe('end');
  });

  it('resumes after Last-Event-ID without repeating or skipping', async () => {
    const { execution_uuid } = await client.submit('echo', 'resume me', {
      echo: { steps: 4, delay_ms: 100 },
    });
    const url = `${server.url}/api/executions/${execution_uuid}/events`;
    const firstPart = await readSse(url, {}, 3);
    const lastId = firstPart.at(-1)?.id as string;
    const rest = await readSse(url, { 'last-event-id': lastId });
    const all = [...firstPart, ...rest].filter((m) => m.id).map((m) => Number(m.id));
    expect(all).toEqual(all.map((_, i) => i + 1));
    expect(rest.at(-1)?.event).toBe('end');
  });

  it('streams every execution change to the board, new tasks included', async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/api/board/events`, { signal: controller.signal });
    expect(res.status).toBe(200);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    // Longer than the window in which a run's move to RUNNING waits to go with its next move.
    const { task_id } = await client.submit('echo', 'board me', { echo: { steps: 1, delay_ms: 200 } });
    const decoder = new TextDecoder();
    let text = '';
    while (!text.includes('"state":"COMPLETED"')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    controller.abort();
    const changes = text
      .split('\n\n')
      .filter((b) => b.startsWith('event: execution'))
      .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)));
    const mine = changes.filter((c) => c.taskId === task_id).map((c) => c.state);
    expect(mine[0]).toBe('PENDING');
    expect(mine).toEqual(expect.arrayContaining(['PLANNING', 'RUNNING', 'COMPLETED']));
  });

  it('streams card changes without a run change: made, edited, claimed by tasks/next', async () => {
    const controller = new AbortController();
    const res = await fetch(`${server.url}/api/board/events`, { signal: controller.signal });
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const json = { 'content-type': 'application/json' };
    const created = await readJson(
      await fetch(`${server.url}/api/tasks`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ project: 'live-cards', title: 'claim me' }),
      }),
    );
    await fetch(`${server.url}/api/tasks/${created.id}`, {
      method: 'PATCH',
      headers: json,
      body: JSON.stringify({ priority: 'urgent' }),
    });
    // CoderClaw 2026.3 as an executor: the claim moves the card to In progress on open boards.
    const next = await readJson(
      await fetch(`${server.url}/api/tasks/next`, { method: 'POST', headers: json }),
    );
    expect(next.task).toMatchObject({ id: created.number, status: 'in_progress' });
    const decoder = new TextDecoder();
    let text = '';
    const mine = () =>
      text
        .split('\n\n')
        .filter((b) => b.startsWith('event: task'))
        .map((b) => JSON.parse(b.slice(b.indexOf('data: ') + 6)))
        .filter((c) => c.taskId === created.id);
    while (mine().length < 3) {
      const { value, done } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    controller.abort();
    expect(mine()).toEqual([{ taskId: created.id }, { taskId: created.id }, { taskId: created.id }]);
  });

  it('answers a plain JSON 404 for an unknown execution', async () => {
    const res = await fetch(`${server.url}/api/executions/00000000-0000-4000-8000-000000000000/events`);
    expect(res.status).toBe(404);
    expect(await readJson(res)).toMatchObject({ error: 'not_found' });
  });
});
