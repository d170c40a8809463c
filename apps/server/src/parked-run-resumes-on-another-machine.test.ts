import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeOpenAI, startFakeOpenAI } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type Deployment,
  executionIn,
  startDeployment,
  submitRun,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

/**
 * Issue 16, "resumes from where it stopped when the decision arrives, on any worker": a run parked at
 * a question keeps its workspace in PostgreSQL, so a worker on another machine (its own
 * WORKSPACES_DIR, which has never seen the run) unpacks it and goes on from the question. Before,
 * such a worker found no workspace, threw the run's work away and started it over.
 */
describe('a parked run resumes on a worker that does not have its workspace', () => {
  let fake: FakeOpenAI;
  let deployment: Deployment;
  let api: TestServer;
  const dirs: string[] = [];

  const workerOn = (dir: string, extra: Record<string, string> = {}) =>
    deployment.worker({ WORKSPACES_DIR: dir, ...extra });

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    for (let i = 0; i < 6; i++) dirs.push(await mkdtemp(join(tmpdir(), `ccl-machine-${i}-`)));
    deployment = await startDeployment('postgres', { OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: fake.url });
    api = deployment.api;
  });
  afterAll(async () => {
    await deployment?.stop();
    await fake?.close();
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  });

  it('the second machine unpacks the workspace the run left, runs the approved command in it, and the run completes with the first machine’s work', async () => {
    fake.script([
      { text: 'plan: write notes, then show them' },
      {
        toolCalls: [
          { name: 'write_file', input: { path: 'notes.txt', content: 'written on machine 0\n' } },
          { name: 'run_command', input: { command: 'cat notes.txt' } },
        ],
      },
      { toolCalls: [{ name: 'finish', input: { summary: 'notes shown' } }] },
    ]);
    const first = await workerOn(dirs[0] as string);
    const { executionId: id } = await submitRun(api, {
      title: 'Notes',
      prompt: 'Write notes and show them',
      agent_type: 'openai',
      context: { approval: 'commands' },
    });
    await executionIn(api, id, ['WAITING']);
    expect(await api.prisma.workspaceSnapshot.count({ where: { executionId: id } })).toBe(1);

    // The first machine goes away with its disk.
    await first.stopServer();
    await rm(dirs[0] as string, { recursive: true, force: true });
    await workerOn(dirs[1] as string);
    expect((await fetch(`${api.url}/api/executions/${id}/approve`, { method: 'POST' })).status).toBe(200);

    const done = await executionIn(api, id);
    expect(done.state).toBe('COMPLETED');
    expect(done.result).toBe('notes shown');
    // The approved command ran in the unpacked workspace: the model read the first machine's file.
    expect(JSON.stringify(fake.requests[2]?.body?.messages)).toContain('written on machine 0');
    expect(done.meta).toMatchObject({ changed_files: ['notes.txt'] });
    expect(await readdir(dirs[1] as string)).toEqual([id]);

    const types = (
      await api.prisma.executionEvent.findMany({ where: { executionId: id }, orderBy: { seq: 'asc' } })
    ).map((e) => e.type);
    expect(types).toContain('workspace_restored');
    expect(types).not.toContain('resume_failed');
    expect(fake.requests).toHaveLength(3);
    // Kept only while parked.
    expect(await api.prisma.workspaceSnapshot.count({ where: { executionId: id } })).toBe(0);
  });

  it('with WORKSPACE_SNAPSHOT_MAX_MB=0 nothing is kept: on the second machine the run starts over and asks again', async () => {
    await deployment.stopWorkers();
    const turn = {
      toolCalls: [
        { name: 'write_file', input: { path: 'notes.txt', content: 'again\n' } },
        { name: 'run_command', input: { command: 'cat notes.txt' } },
      ],
    };
    fake.script([{ text: 'plan' }, turn, { text: 'plan' }, turn]);
    const none = { WORKSPACE_SNAPSHOT_MAX_MB: '0' };
    const first = await workerOn(dirs[2] as string, none);
    const { executionId: id } = await submitRun(api, {
      title: 'Notes again',
      prompt: 'Write notes and show them',
      agent_type: 'openai',
      context: { approval: 'commands' },
    });
    await executionIn(api, id, ['WAITING']);
    expect(await api.prisma.workspaceSnapshot.count({ where: { executionId: id } })).toBe(0);
    await first.stopServer();
    await workerOn(dirs[3] as string, none);
    expect((await fetch(`${api.url}/api/executions/${id}/approve`, { method: 'POST' })).status).toBe(200);
    await waitFor(async () => {
      const started = await api.prisma.executionEvent.count({
        where: { executionId: id, type: 'resume_failed' },
      });
      return started === 1 && (await api.prisma.execution.findUnique({ where: { id } }))?.state === 'WAITING';
    }, 20_000);
    const cancelled = await fetch(`${api.url}/api/executions/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect((await executionIn(api, id)).state).toBe('CANCELLED');
  });
  it('a running run whose machine went away goes on, on another machine, from the checkpoint its workspace was kept with', async () => {
    await deployment.stopWorkers();
    fake.script([
      { text: 'plan: write notes, wait, then show them' },
      { toolCalls: [{ name: 'write_file', input: { path: 'notes.txt', content: 'kept on machine 4\n' } }] },
      { toolCalls: [{ name: 'run_command', input: { command: 'sleep 30' } }] },
      { toolCalls: [{ name: 'run_command', input: { command: 'cat notes.txt' } }] },
      { toolCalls: [{ name: 'finish', input: { summary: 'notes shown' } }] },
    ]);
    const before = fake.requests.length;
    // Every checkpoint keeps the workspace here, so the one after the notes were written is kept.
    const every = { WORKSPACE_SNAPSHOT_INTERVAL_S: '0', SHUTDOWN_GRACE_S: '1' };
    const first = await workerOn(dirs[4] as string, every);
    const { executionId: id } = await submitRun(api, {
      title: 'Notes, then wait',
      prompt: 'Write notes, wait, show them',
      agent_type: 'openai',
    });
    await waitFor(() =>
      api.prisma.executionEvent.findFirst({
        where: {
          executionId: id,
          type: 'tool_call',
          data: { path: ['input', 'command'], equals: 'sleep 30' },
        },
      }),
    );
    expect(await api.prisma.workspaceSnapshot.count({ where: { executionId: id } })).toBe(1);

    // The machine goes away mid-command, with its disk; the run goes back to the queue.
    await first.stopServer();
    await rm(dirs[4] as string, { recursive: true, force: true });
    await workerOn(dirs[5] as string, every);
    const done = await executionIn(api, id);
    expect(done.state, String(done.error)).toBe('COMPLETED');
    expect(done.result).toBe('notes shown');
    // The model went on after the notes were written, and read them from the unpacked workspace.
    const requests = fake.requests.slice(before);
    expect(requests).toHaveLength(5);
    expect(JSON.stringify(requests[4]?.body?.messages)).toContain('kept on machine 4');
    const events = await api.prisma.executionEvent.findMany({
      where: { executionId: id },
      orderBy: { seq: 'asc' },
    });
    const restored = events.find((e) => e.type === 'workspace_restored');
    expect(restored?.data).toMatchObject({ from: 'checkpoint' });
    expect(events.some((e) => e.type === 'resume_failed')).toBe(false);
    // Dropped once the run ended.
    expect(await api.prisma.workspaceSnapshot.count({ where: { executionId: id } })).toBe(0);
  });
});
