import { appendEvent, numbered, toRuntimeExecution } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

const JSON_HEADERS = { 'Content-Type': 'application/json', Accept: 'application/json' };

/**
 * A submit keeps its run's 2026.3 poll answer in the api's read cache (runtime-answer.ts): the
 * adapter's polls of a queued run, and a backlog's, read nothing until the run changes. The kept
 * answer must be exactly what a read of the row answers, on every path that starts a run, and a
 * change must show at once. The api runs alone (no worker), so the runs stay queued.
 */
describe('a submitted run answers its 2026.3 polls from the submit', () => {
  let server: TestServer;

  const send = async (method: string, path: string, body?: unknown) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: JSON_HEADERS,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const post = async (path: string, body: unknown): Promise<Json> => {
    const res = await send('POST', path, body);
    expect(res.status, await res.clone().text()).toBeLessThan(300);
    return readJson(res);
  };
  const poll = async (number: number) => readJson(await send('GET', `/api/runtime/executions/${number}`));
  const fromDatabase = async (number: number) =>
    toRuntimeExecution(
      await server.prisma.execution.findUniqueOrThrow({ where: { number }, include: numbered }),
    );

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', role: 'api' });
  });
  afterAll(async () => server?.stop());

  const starts: Array<[string, () => Promise<number>]> = [
    [
      'POST /api/tasks with a prompt',
      async () => {
        const card = await post('/api/tasks', {
          project: 'kept',
          title: 'a card',
          prompt: 'hi',
          agent_type: 'echo',
        });
        const latest = await server.prisma.execution.findFirstOrThrow({
          where: { task: { number: card.number as number } },
        });
        return latest.number;
      },
    ],
    [
      'POST /api/runtime/executions',
      async () => {
        const card = await post('/api/tasks', { project: 'kept', title: 'a card', agent_type: 'echo' });
        const run = await post('/api/runtime/executions', {
          taskId: card.number,
          sessionId: 'agent:main:7',
          payload: 'say hello',
        });
        return run.id as number;
      },
    ],
    [
      'POST /api/runtime/tasks/submit',
      async () => {
        const session = await post('/api/runtime/sessions', {});
        const submitted = await post('/api/runtime/tasks/submit', {
          agent_type: 'echo',
          prompt: 'from the session contract',
          context: { project: 'kept' },
          session_id: session.session_id,
        });
        const run = await server.prisma.execution.findUniqueOrThrow({
          where: { id: submitted.execution_uuid as string },
        });
        return run.number;
      },
    ],
  ];

  it.each(starts)(
    '%s: the kept answer is the row read, then a change shows at once',
    async (_path, start) => {
      const number = await start();
      // The rank's change notice (the submit's own) arrives after the answer; it must leave it kept.
      await new Promise((r) => setTimeout(r, 300));
      const row = await fromDatabase(number);
      // Changed behind the server's back (no notice) before any poll: the first poll answers what the
      // submit kept, which is exactly the row as the submit left it.
      await server.prisma
        .$executeRaw`UPDATE executions SET prompt = 'changed unseen' WHERE number = ${number}`;
      expect(await poll(number)).toStrictEqual(row);

      // A real change is heard and read afresh.
      const { id } = await server.prisma.execution.findUniqueOrThrow({ where: { number } });
      expect((await send('POST', `/api/executions/${id}/cancel`)).status).toBe(200);
      await waitFor(async () => (await poll(number)).status === 'cancelled');
      expect(await poll(number)).toStrictEqual(await fromDatabase(number));
      expect((await poll(number)).payload).toBe('changed unseen');
    },
  );

  it("follows the run's events from their notices, without a read, and reads again at a move", async () => {
    const number = await starts[0]?.[1]();
    if (number === undefined) throw new Error('no start');
    const { id } = await server.prisma.execution.findUniqueOrThrow({ where: { number } });
    await new Promise((r) => setTimeout(r, 300));
    expect((await poll(number)).status).toBe('pending');
    // Changed behind the server's back, then three events written as a worker writes them.
    await server.prisma.$executeRaw`UPDATE executions SET prompt = 'changed unseen' WHERE number = ${number}`;
    for (let step = 0; step < 3; step++) {
      await appendEvent({ prisma: server.prisma }, id, 'message', { text: `step ${step}` });
    }
    const row = await fromDatabase(number);
    // The answer moves with the events (updated_at) and is otherwise the one kept: no read was made.
    const followed = await waitFor(async () => {
      const answer = await poll(number);
      return answer.updatedAt === row.updatedAt && answer;
    });
    expect(followed).toStrictEqual({ ...row, payload: 'hi' });

    expect((await send('POST', `/api/executions/${id}/cancel`)).status).toBe(200);
    await waitFor(async () => (await poll(number)).status === 'cancelled');
    expect(await poll(number)).toStrictEqual(await fromDatabase(number));
  });

  it("keeps the session contract's task state through its run's events, and reads it again at a usage report", async () => {
    const session = await post('/api/runtime/sessions', {});
    const submitted = await post('/api/runtime/tasks/submit', {
      agent_type: 'echo',
      prompt: 'followed',
      // Its own usage report (at its end) would race the one this test writes: it waits in its step.
      context: { project: 'kept', echo: { steps: 1, delay_ms: 60_000 } },
      session_id: session.session_id,
    });
    const taskId = submitted.task_id as string;
    const id = submitted.execution_uuid as string;
    const { number } = await server.prisma.execution.findUniqueOrThrow({ where: { id } });
    const state = async () => readJson(await send('GET', `/api/runtime/tasks/${taskId}/state`));
    const meta = async () => (await state()).metadata as Record<string, unknown>;
    expect((await meta()).title).toBe('followed');
    // Changed behind the server's back, then two events: both polls' notices are heard in order, so
    // once the 2026.3 answer shows the second event, the task state has heard both.
    await server.prisma.$executeRaw`UPDATE tasks SET title = 'changed unseen' WHERE id = ${taskId}::uuid`;
    for (let step = 0; step < 2; step++) {
      await appendEvent({ prisma: server.prisma }, id, 'message', { text: `step ${step}` });
    }
    const { updatedAt } = await fromDatabase(number);
    await waitFor(async () => (await poll(number)).updatedAt === updatedAt);
    expect((await meta()).title).toBe('followed');

    await appendEvent(
      { prisma: server.prisma },
      id,
      'usage',
      {},
      { input_tokens: 3, output_tokens: 4, cost_usd: 0 },
    );
    const read = await waitFor(async () => {
      const m = await meta();
      return m.title === 'changed unseen' && m;
    });
    expect(read.usage).toEqual({ input_tokens: 3, output_tokens: 4, cost_usd: 0 });
  });
});
