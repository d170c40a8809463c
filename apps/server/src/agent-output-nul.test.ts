import { type FakeAnthropic, startFakeAnthropic } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

describe('agent output PostgreSQL cannot store as text', () => {
  let fake: FakeAnthropic;
  let server: TestServer;
  beforeAll(async () => {
    fake = await startFakeAnthropic({ apiKey: 'k' });
    server = await startTestServer({
      backend: 'postgres',
      env: { ANTHROPIC_API_KEY: 'k', ANTHROPIC_BASE_URL: fake.url },
    });
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
  });

  it('keeps a command output with NUL bytes (as U+FFFD) and completes', async () => {
    fake.script([
      { text: '1. Print bytes' },
      { toolCalls: [{ name: 'run_command', input: { command: "printf 'a\\000b'" } }] },
      { toolCalls: [{ name: 'finish', input: { summary: 'done \u0000 here' } }] },
    ]);
    const client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
    const { task_id, execution_uuid } = await client.submit('claude', 'print a NUL', {});
    const final = await waitFor(async () => {
      const s = await client.queryTaskState(String(task_id));
      return s && ['completed', 'failed'].includes(String(s.state)) ? s : null;
    }, 20_000);
    expect(final.error).toBeNull();
    expect(final.state).toBe('completed');
    expect(final.result).toBe('done \uFFFD here');
    const outputs = await server.prisma.executionEvent.findMany({
      where: { executionId: String(execution_uuid), type: 'tool_result' },
    });
    expect(JSON.stringify(outputs.map((e) => e.data))).toContain('a\uFFFDb');
  });
});
