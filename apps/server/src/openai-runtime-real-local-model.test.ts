import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalOpenAIServer, loadTinyLocalLlm, startLocalOpenAI } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { createGitFixture } from './test-support/git-fixture.ts';
import { type Json, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

/*
 * The openai runtime against a real model instead of a scripted fake: a tiny
 * random-weight llama generated as GGUF, run by llama.cpp (node-llama-cpp, CPU)
 * behind an OpenAI-compatible endpoint. Its text is gibberish and it never calls
 * tools, so the run ends after the plan and one answer; what this proves is that
 * what the model really sampled and counted is what the execution records.
 */
const loaded = await loadTinyLocalLlm();
if (!loaded.ok) console.warn(`skipping the real local model test: ${loaded.reason}`);

describe.skipIf(!loaded.ok)('openai runtime on a real local model (llama.cpp on CPU)', () => {
  let local: LocalOpenAIServer;
  let server: TestServer;
  let client: CoderClawClient;
  let repo: Awaited<ReturnType<typeof createGitFixture>>;
  let workspaces: string;

  beforeAll(async () => {
    if (!loaded.ok) return;
    local = await startLocalOpenAI(loaded.llm);
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    repo = await createGitFixture({ 'hello.txt': 'hello\n' });
    server = await startTestServer({
      backend: 'postgres',
      env: {
        OPENAI_BASE_URL: local.url,
        // Local servers take any key; the runtime still wants one set.
        OPENAI_API_KEY: 'local-no-key',
        OPENAI_MODEL: local.model,
        WORKSPACES_DIR: workspaces,
      },
    });
    client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
  });
  afterAll(async () => {
    await server?.stop();
    await local?.close();
    if (loaded.ok) await loaded.llm.dispose();
    await repo?.remove();
    if (workspaces) await rm(workspaces, { recursive: true, force: true });
  });

  it('completes a task with the text the model sampled and the tokens it counted', async () => {
    const { task_id, execution_uuid } = await client.submit('openai', 'Make hello.txt greet the world', {
      repo: repo.dir,
    });
    const final = await waitFor(async () => {
      const s = await client.queryTaskState(String(task_id));
      return s && ['completed', 'failed', 'cancelled'].includes(String(s.state)) ? (s as Json) : null;
    }, 30_000);

    // The planning call, then one run turn without tool calls, which ends the loop.
    expect(local.completions).toHaveLength(2);
    const [plan, answer] = local.completions;
    if (!plan || !answer) throw new Error('unreachable');
    expect(plan.prompt).toContain('Make hello.txt greet the world');
    expect(answer.prompt).toContain('- finish:');
    expect(answer.prompt).toContain(plan.text.trim() || '(none)');

    expect(final.error).toBeNull();
    expect(final.state).toBe('completed');
    expect(final.metadata.plan).toBe(plan.text.trim());
    expect(final.result).toBe(answer.text.trim() || 'done');
    expect(final.metadata.usage.input_tokens).toBe(plan.promptTokens + answer.promptTokens);
    expect(final.metadata.usage.output_tokens).toBe(plan.completionTokens + answer.completionTokens);
    expect(final.metadata.usage.output_tokens).toBeGreaterThan(0);

    const events = await server.prisma.executionEvent.findMany({
      where: { executionId: String(execution_uuid) },
      orderBy: { seq: 'asc' },
    });
    const streamed = events
      .filter((e) => e.type === 'message')
      .map((e) => (e.data as { text: string }).text)
      .join('');
    expect(streamed).toBe(plan.text + answer.text);
  });
});
