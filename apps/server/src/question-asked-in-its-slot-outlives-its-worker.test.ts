import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  type FakeGooseScript,
  type FakeGooseStep,
  gooseComplete,
  gooseText,
  gooseToolRequest,
  gooseToolResponse,
  writeGooseScript,
} from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeGooseBin } from './test-support/fake-goose-bin.ts';
import { createGitFixture } from './test-support/git-fixture.ts';
import {
  type Deployment,
  executionIn,
  startDeployment,
  submitRun,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

/**
 * Issue 16, "nothing lost": Goose asks its questions holding its worker slot (its state lives in the
 * `goose acp` process, so the run cannot park). When that worker stops while the run waits, the run
 * goes back to the queue as WAITING with nobody left to hear the answer. The next worker withdraws
 * the question (a state event says why), runs the agent again from its last finished phase (Goose
 * has none: from the start), and asks again; answered, the run completes. Before, the next worker ran
 * the agent with the run still WAITING and gave up at its first question ("execution changed under
 * the worker"), leaving the run stuck.
 */
describe('a question asked holding the slot outlives the worker that asked it', () => {
  let api: TestServer;
  let repo: Awaited<ReturnType<typeof createGitFixture>>;
  let workspaces: string;
  let script: FakeGooseScript;
  let wrapper: { bin: string; dir: string };
  let deployment: Deployment;

  const steps: FakeGooseStep[] = [
    { line: gooseToolRequest('call_run', 'developer__shell', { command: 'echo ran > ran.txt' }) },
    { write_file: { path: 'ran.txt', content: 'ran\n' } },
    { line: gooseToolResponse('call_run', '') },
    {
      after_permission: {
        allowed: [{ line: gooseText('Wrote ran.txt.') }],
        declined: [{ line: gooseText('Declined; nothing changed.') }],
      },
    },
    { line: gooseComplete() },
  ];

  beforeAll(async () => {
    script = await writeGooseScript(steps);
    wrapper = await fakeGooseBin(script);
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    repo = await createGitFixture({ 'hello.txt': 'hello\n' });
    // Goose follows host pids here, unconfined, as in runtime-goose.test.ts.
    deployment = await startDeployment('redis', {
      GOOSE_BIN: wrapper.bin,
      WORKSPACES_DIR: workspaces,
      SANDBOX: 'off',
      SHUTDOWN_GRACE_S: '1',
    });
    api = deployment.api;
  });
  afterAll(async () => {
    await deployment?.stop();
    await repo?.remove();
    if (workspaces) await rm(workspaces, { recursive: true, force: true });
    if (wrapper) await rm(wrapper.dir, { recursive: true, force: true });
    if (script) await rm(dirname(script.scriptPath), { recursive: true, force: true });
  });

  const startsOfGoose = async () => (await script.readRecord())?.pid;

  it('the next worker withdraws the question, runs the agent again, asks again, and the run completes once approved', async () => {
    const first = await deployment.worker();
    const { executionId: id } = await submitRun(api, {
      title: 'Write ran.txt',
      prompt: 'Write ran.txt',
      agent_type: 'goose',
      context: { repo: repo.dir, approval: 'commands' },
    });
    await executionIn(api, id, ['WAITING']);
    const firstGoose = await startsOfGoose();
    expect(firstGoose).toBeGreaterThan(0);

    // The worker stops (a deploy): after SHUTDOWN_GRACE_S the run goes back to the queue, still WAITING.
    await writeFile(script.recordPath, '');
    await first.stopServer();
    const left = await api.prisma.execution.findUniqueOrThrow({ where: { id } });
    expect(left.state).toBe('WAITING');

    await deployment.worker();
    // Withdrawn, then asked again by a new goose.
    await waitFor(async () => {
      const pid = await startsOfGoose();
      const row = await api.prisma.execution.findUnique({ where: { id } });
      return pid !== undefined && pid !== firstGoose && row?.state === 'WAITING';
    }, 20_000);
    const decided = await fetch(`${api.url}/api/executions/${id}/approve`, { method: 'POST' });
    expect(decided.status).toBe(200);
    const done = await executionIn(api, id);
    expect(done.state).toBe('COMPLETED');
    expect(done.result).toBe('Wrote ran.txt.');

    const states = await api.prisma.executionEvent.findMany({
      where: { executionId: id, type: 'state' },
      orderBy: { seq: 'asc' },
      select: { data: true },
    });
    const moves = states.map((e) => e.data as { to: string; withdrawn?: string });
    expect(moves.map((m) => m.to)).toEqual([
      'planning',
      'running',
      'waiting',
      'running',
      'waiting',
      'running',
      'completed',
    ]);
    expect(moves[3]?.withdrawn).toBe('its worker stopped while the run waited; it goes on and asks again');
  });
});
