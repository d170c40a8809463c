import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeOpenAI, startFakeOpenAI } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { createGitFixture } from './test-support/git-fixture.ts';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

describe('project settings as defaults for its tasks', () => {
  let fake: FakeOpenAI;
  let server: TestServer;
  let repo: Awaited<ReturnType<typeof createGitFixture>>;
  let workspaces: string;
  let admin: Record<string, string>;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    repo = await createGitFixture({ 'notes.txt': 'from the project repo\n' });
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    server = await startTestServer({
      backend: 'postgres',
      env: { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: fake.url, WORKSPACES_DIR: workspaces },
    });
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    admin = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    await repo?.remove();
    await rm(workspaces, { recursive: true, force: true });
  });

  it('needs project:manage, validates settings, and applies them under each task context', async () => {
    const denied = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ slug: 'acme' }),
    });
    expect(denied.status).toBe(403);
    expect((await readJson(denied)).message).toBe("user 'local' lacks project:manage");

    const bad = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ slug: 'acme', settings: { approval: 'sometimes' } }),
    });
    expect(bad.status).toBe(400);

    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ slug: 'acme', settings: { repo: repo.dir } }),
    });
    expect(created.status).toBe(201);
    const patched = await fetch(`${server.url}/api/projects/acme`, {
      method: 'PATCH',
      headers: admin,
      body: JSON.stringify({ settings: { repo: repo.dir, approval: 'commands', max_cost_usd: 2 } }),
    });
    expect((await readJson(patched)).settings).toEqual({
      repo: repo.dir,
      approval: 'commands',
      max_cost_usd: 2,
    });

    fake.script([
      { text: 'plan' },
      { toolCalls: [{ name: 'read_file', input: { path: 'notes.txt' } }] },
      { toolCalls: [{ name: 'run_command', input: { command: 'true' } }] },
    ]);
    const client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
    const { task_id } = await client.submit('openai', 'Read the notes', { project: 'acme', max_cost_usd: 1 });
    const waiting = await waitFor(async () => {
      const s = await client.queryTaskState(String(task_id));
      return s?.state === 'waiting' ? s : null;
    });
    const execution = await server.prisma.execution.findUniqueOrThrow({
      where: { id: String(waiting.execution_uuid) },
    });
    // The project's defaults fill in; the task's own max_cost_usd wins.
    expect(execution.context).toMatchObject({
      repo: repo.dir,
      approval: 'commands',
      max_cost_usd: 1,
      project: 'acme',
    });
    const read = await server.prisma.executionEvent.findFirstOrThrow({
      where: { executionId: execution.id, type: 'tool_result' },
    });
    expect((read.data as { output: string }).output).toContain('from the project repo');
    expect(await client.cancel(String(task_id))).toBe(true);
  });
});
