import { type FakeOllama, startFakeOllama } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { BACKENDS, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

// The compose layout: an api process and a separate worker process on one database and queue.
describe.each(BACKENDS)('api and worker as separate processes (%s queue)', (backend) => {
  let fake: FakeOllama;
  let api: TestServer;
  let worker: TestServer;

  beforeAll(async () => {
    fake = await startFakeOllama();
    const env = { OLLAMA_HOST: fake.url, QUEUE_NAME: `split-${backend}-${Date.now()}` };
    api = await startTestServer({ backend, env, role: 'api' });
    worker = await startTestServer({ backend, env, role: 'worker', shareDatabaseWith: api });
  });
  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await fake?.close();
  });

  it('runs a task on a runtime the worker has to probe for itself, and cancels across processes', async () => {
    fake.script([
      { text: 'plan' },
      { toolCalls: [{ name: 'finish', input: { summary: 'done by the worker' } }] },
    ]);
    const client = new CoderClawClient({ baseUrl: api.url, pollIntervalMs: 50 });
    await client.connect();
    const { task_id } = await client.submit('ollama', 'Finish at once', {});
    const final = await waitFor(async () => {
      const s = await client.queryTaskState(String(task_id));
      return s && ['completed', 'failed', 'cancelled'].includes(String(s.state)) ? s : null;
    });
    expect(final.error).toBeNull();
    expect(final.result).toBe('done by the worker');

    const { task_id: echoTask } = await client.submit('echo', 'long', {
      echo: { steps: 1000, delay_ms: 50 },
    });
    await waitFor(async () => (await client.queryTaskState(String(echoTask)))?.state === 'running');
    expect(await client.cancel(String(echoTask))).toBe(true);
    await waitFor(async () => (await client.queryTaskState(String(echoTask)))?.state === 'cancelled', 2000);
  });
});
