import { mkdtemp, readFile, rm } from 'node:fs/promises';
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
 * Issue 16, "a phase that already completed is not repeated blindly": a decision is acted on once.
 * A run resumed from a parked question with its approval, whose worker stops while the approved
 * command runs, comes back on the next worker without that decision: the agent asks again before
 * running the command again. Before, the next worker read the same approval back and ran the
 * command again without asking.
 */
describe('an approved step is not done again on an old approval', () => {
  let fake: FakeOpenAI;
  let deployment: Deployment;
  let api: TestServer;
  let workspaces: string;

  beforeAll(async () => {
    fake = await startFakeOpenAI();
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    deployment = await startDeployment('redis', {
      OPENAI_API_KEY: 'test-key',
      OPENAI_BASE_URL: fake.url,
      WORKSPACES_DIR: workspaces,
      SHUTDOWN_GRACE_S: '1',
    });
    api = deployment.api;
  });
  afterAll(async () => {
    await deployment?.stop();
    await fake?.close();
    await rm(workspaces, { recursive: true, force: true });
  });

  const row = (id: string) => api.prisma.execution.findUniqueOrThrow({ where: { id } });
  const approve = async (id: string) =>
    expect((await fetch(`${api.url}/api/executions/${id}/approve`, { method: 'POST' })).status).toBe(200);
  const worker = () => deployment.worker();

  it('the next worker asks again before the command runs again, and the approved run completes', async () => {
    const command = 'sleep 4 && echo ran >> count.txt';
    fake.script([
      { text: 'plan: run it' },
      { toolCalls: [{ name: 'run_command', input: { command } }] },
      { toolCalls: [{ name: 'finish', input: { summary: 'ran it' } }] },
    ]);
    const first = await worker();
    const { executionId: id } = await submitRun(api, {
      title: 'Run',
      prompt: 'Run it',
      agent_type: 'openai',
      context: { approval: 'commands' },
    });
    await executionIn(api, id, ['WAITING']);
    await approve(id);
    // Resumed with the approval: the question's checkpoint no longer carries it.
    await waitFor(async () => {
      const r = await row(id);
      return r.state === 'RUNNING' && (r.checkpoint as { kind?: string } | null)?.kind === 'progress';
    });

    // Its worker stops while the approved command runs: back to the queue, the command cut short.
    await first.stopServer();
    await worker();
    const asked = await executionIn(api, id, ['WAITING']);
    expect(asked.pendingApproval).toMatchObject({ kind: 'command', description: `run: ${command}` });
    await approve(id);

    const done = await executionIn(api, id);
    expect(done.state).toBe('COMPLETED');
    expect(done.result).toBe('ran it');
    // Once to the end: the cut-short run wrote nothing, the approved one wrote one line.
    expect(await readFile(join(workspaces, id, 'count.txt'), 'utf8')).toBe('ran\n');
    // No second plan, no repeated model turn: the conversation went on.
    expect(fake.requests).toHaveLength(3);
    const waits = await api.prisma.executionEvent.count({
      where: { executionId: id, type: 'state', data: { path: ['to'], equals: 'waiting' } },
    });
    expect(waits).toBe(2);
  });
});
