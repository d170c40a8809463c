import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { processGroupAlive } from '@ccl/agents';
import { Prisma } from '@ccl/db';
import {
  type FakeGooseScript,
  type FakeGooseStep,
  gooseComplete,
  gooseText,
  gooseToolRequest,
  gooseToolResponse,
  writeGooseScript,
} from '@ccl/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
 * Issue 16, "waiting costs nothing" and "nothing lost", for Goose. Goose's state at a question
 * lives in its `goose acp` process and its session store; the store sits in the workspace's `.git`,
 * so the run parks like the others (no process, no slot) and the question outlives its worker and
 * that worker's disk: the worker that takes the answer unpacks the workspace, loads goose's session
 * and tells goose the answer. Before, Goose asked holding its slot, and a stopped worker left the
 * question with nobody to hear the answer.
 *
 * A run an earlier version left WAITING in its slot (a question without a checkpoint) still comes
 * back: the next worker withdraws the question (a state event says why), runs the agent again from
 * its last finished phase (Goose has none: from the start), and the agent asks again.
 */
describe('a Goose question outlives the worker that asked it', () => {
  let api: TestServer;
  let repo: Awaited<ReturnType<typeof createGitFixture>>;
  let workspaces: string;
  let elsewhere: string;
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
    elsewhere = await mkdtemp(join(tmpdir(), 'ccl-ws-elsewhere-'));
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
  afterEach(() => deployment.stopWorkers());
  afterAll(async () => {
    await deployment?.stop();
    await repo?.remove();
    for (const dir of [workspaces, elsewhere]) if (dir) await rm(dir, { recursive: true, force: true });
    if (wrapper) await rm(wrapper.dir, { recursive: true, force: true });
    if (script) await rm(dirname(script.scriptPath), { recursive: true, force: true });
  });

  const startsOfGoose = async () => (await script.readRecord())?.pid;
  const submit = () =>
    submitRun(api, {
      title: 'Write ran.txt',
      prompt: 'Write ran.txt',
      agent_type: 'goose',
      context: { repo: repo.dir, approval: 'commands' },
    });
  const movesOf = async (id: string) => {
    const states = await api.prisma.executionEvent.findMany({
      where: { executionId: id, type: 'state' },
      orderBy: { seq: 'asc' },
      select: { data: true },
    });
    return states.map((e) => e.data as { to: string; withdrawn?: string });
  };
  const approve = async (id: string) =>
    expect((await fetch(`${api.url}/api/executions/${id}/approve`, { method: 'POST' })).status).toBe(200);
  /** WAITING with the question's checkpoint: parked, its job no longer active. */
  const parked = (id: string) =>
    waitFor(async () => {
      const row = await api.prisma.execution.findUnique({ where: { id } });
      const kind = (row?.checkpoint as { kind?: string } | null)?.kind;
      return row?.state === 'WAITING' && kind === 'approval' && (await api.deps.queue.state(id)) !== 'active';
    }, 20_000);

  it('parks at the question; after its worker and its disk are gone, the answer resumes goose in its own session elsewhere', async () => {
    const first = await deployment.worker();
    const { executionId: id } = await submit();
    await parked(id);
    const firstGoose = await script.readRecord();
    expect(await processGroupAlive(Number(firstGoose?.pid))).toBe(false);

    // That machine goes away with its disk.
    await first.stopServer();
    await rm(join(workspaces, id), { recursive: true, force: true });
    await rm(script.recordPath, { force: true });
    await deployment.worker({ WORKSPACES_DIR: elsewhere });
    await approve(id);
    const done = await executionIn(api, id);
    expect(done.state).toBe('COMPLETED');
    expect(done.result).toBe('Wrote ran.txt.');
    expect(await readFile(join(elsewhere, id, 'ran.txt'), 'utf8')).toBe('ran\n');

    const second = await script.readRecord();
    expect(second?.cwd).toBe(join(elsewhere, id));
    expect(second?.loaded).toBe('20250101_fake');
    expect(second?.prompts).toEqual([
      'The person reviewing this run approved your request to run: echo ran > ran.txt. Run it now, then go on with the task.',
    ]);
    const types = (await api.prisma.executionEvent.findMany({ where: { executionId: id } })).map(
      (e) => e.type,
    );
    expect(types).toContain('workspace_restored');
    expect((await movesOf(id)).map((m) => m.to)).toEqual([
      'planning',
      'running',
      'waiting',
      'running',
      'completed',
    ]);
  });

  it('a question an earlier version left in its slot is withdrawn by the next worker, asked again, and the run completes once approved', async () => {
    await deployment.worker();
    const { executionId: id } = await submit();
    await parked(id);
    const firstGoose = await startsOfGoose();
    expect(firstGoose).toBeGreaterThan(0);
    // As an earlier version left such a run: WAITING with no question checkpoint, its job back in the queue.
    await api.prisma.execution.update({ where: { id }, data: { checkpoint: Prisma.DbNull } });
    await writeFile(script.recordPath, '');
    expect(await api.deps.queue.wake(id)).toBe(true);

    // Withdrawn, then asked again by a new goose (which parks).
    await waitFor(async () => {
      const pid = await startsOfGoose();
      return pid !== undefined && pid !== firstGoose;
    }, 20_000);
    await parked(id);
    await approve(id);
    const done = await executionIn(api, id);
    expect(done.state).toBe('COMPLETED');
    expect(done.result).toBe('Wrote ran.txt.');

    const moves = await movesOf(id);
    expect(moves.map((m) => m.to)).toEqual([
      'planning',
      'running',
      'waiting',
      'running',
      'waiting',
      'running',
      'completed',
    ]);
    expect(moves[3]?.withdrawn).toMatch(/asks again/);
  });
});
