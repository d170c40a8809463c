import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type GithubWorld, linkProject, startGithubWorld } from './test-support/github-fixture.ts';
import { startWorkerFor, type TestServer } from './test-support/test-server.ts';

/** How many events of `type` the run has recorded. */
const eventsOf = (w: GithubWorld, executionId: string, type: string) =>
  w.server.prisma.executionEvent.count({ where: { executionId, type } });

/**
 * Issue 16, "waiting costs nothing", for the GitHub delivery's questions (a project with
 * `pull_requests: "approve"`, or a diff the secret scan stops): the agent has finished, so the run
 * parks at the question with its result and its workspace, and the delivery goes on when the
 * decision comes, on any worker. Before, the question held its worker slot for up to
 * APPROVAL_TIMEOUT_S, and a worker's death threw the agent's work away.
 */
describe('a GitHub delivery question gives its worker slot back', () => {
  const worlds: GithubWorld[] = [];
  const workers: TestServer[] = [];
  const dirs: string[] = [];
  afterAll(async () => {
    for (const worker of workers) await worker.stop().catch(() => undefined);
    for (const world of worlds) await world.stop();
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('on a worker of one slot, another run completes while a run waits to open its PR; approved, the PR opens without running the agent again', async () => {
    const w = await startGithubWorld({ WORKER_CONCURRENCY: '1' });
    worlds.push(w);
    await w.github.addRepo('acme/web', { files: { 'README.md': '# web\n' } });
    await linkProject(w, 'careful', { repo: 'acme/web', pull_requests: 'approve' });
    await linkProject(w, 'quick', { repo: 'acme/web' });

    const asks = await w.submit('careful', 'Ask first', { files: { 'asked.txt': 'asked\n' } });
    const waiting = await w.waitForState(asks.executionId, ['WAITING', 'COMPLETED', 'FAILED']);
    expect(waiting.pendingApproval).toMatchObject({ kind: 'pull_request' });
    expect(waiting.checkpoint).toMatchObject({ kind: 'approval', delivery: { asking: expect.any(String) } });

    // The one slot is free: a run of another project goes all the way to its PR meanwhile.
    const meanwhile = await w.submit('quick', 'Meanwhile', { files: { 'meanwhile.txt': 'm\n' } });
    expect((await w.waitForState(meanwhile.executionId, ['COMPLETED', 'FAILED'])).state).toBe('COMPLETED');
    expect((await w.waitForState(asks.executionId, ['WAITING'])).state).toBe('WAITING');
    expect(w.github.pulls('acme/web').map((p) => p.title)).toEqual(['Meanwhile']);

    expect((await w.api('POST', `/api/executions/${asks.executionId}/approve`, {})).status).toBe(200);
    const done = await w.waitForState(asks.executionId, ['COMPLETED', 'FAILED']);
    expect(done.state, String(done.error)).toBe('COMPLETED');
    const pr = w.github.pulls('acme/web').find((p) => p.title === 'Ask first');
    expect(pr).toBeDefined();
    expect(done.meta).toMatchObject({ pull_request: { number: pr?.number } });
    // The agent ran once: one step, one workspace, and the delivery went on from the question.
    expect(await eventsOf(w, asks.executionId, 'progress')).toBe(1);
    expect(await eventsOf(w, asks.executionId, 'workspace')).toBe(1);
    expect(await eventsOf(w, asks.executionId, 'resumed')).toBe(1);
    expect(await w.server.prisma.workspaceSnapshot.count()).toBe(0);
  });

  it('a worker on another machine takes the approved delivery: it unpacks the workspace and pushes the first machine’s work; the secret scan’s answer is not asked again', async () => {
    const w = await startGithubWorld({}, { role: 'api' });
    worlds.push(w);
    await w.github.addRepo('acme/api', { files: { 'README.md': '# api\n' } });
    await linkProject(w, 'both', { repo: 'acme/api', pull_requests: 'approve' });
    for (let i = 0; i < 2; i++) dirs.push(await mkdtemp(join(tmpdir(), `ccl-delivery-${i}-`)));
    const workerOn = async (dir: string) => {
      const worker = await startWorkerFor(w.server, {
        backend: 'postgres',
        env: { ...w.env, WORKSPACES_DIR: dir },
      });
      workers.push(worker);
      return worker;
    };

    const first = await workerOn(dirs[0] as string);
    const leaked = `ghp_${'Z9y8X7w6V5'.repeat(4).slice(0, 36)}`;
    const run = await w.submit('both', 'Two questions', {
      files: { 'work.txt': 'done on machine 0\n', 'env.ts': `export const t = '${leaked}';\n` },
    });
    const scan = await w.waitForState(run.executionId, ['WAITING', 'COMPLETED', 'FAILED']);
    expect(scan.pendingApproval).toMatchObject({ kind: 'secret_scan' });

    // The first machine goes away with its disk; the second has never seen the run.
    await first.stopServer();
    await rm(dirs[0] as string, { recursive: true, force: true });
    await workerOn(dirs[1] as string);
    expect((await w.api('POST', `/api/executions/${run.executionId}/approve`, {})).status).toBe(200);
    // On the second machine the delivery goes on to its next question, parked again.
    const pull = await w.waitForState(run.executionId, ['WAITING', 'COMPLETED', 'FAILED'], 30_000);
    expect(pull.state).toBe('WAITING');
    await w.waitForState(run.executionId, ['WAITING']);
    const asked = async () =>
      (await w.server.prisma.execution.findUniqueOrThrow({ where: { id: run.executionId } }))
        .pendingApproval as { kind?: string } | null;
    expect((await asked())?.kind).toBe('pull_request');
    expect((await w.api('POST', `/api/executions/${run.executionId}/approve`, {})).status).toBe(200);

    const done = await w.waitForState(run.executionId, ['COMPLETED', 'FAILED'], 30_000);
    expect(done.state, String(done.error)).toBe('COMPLETED');
    const pr = w.github.pulls('acme/api').find((p) => p.title === 'Two questions');
    expect(pr).toBeDefined();
    expect(await w.git.readFile('acme/api', pr?.head.ref ?? '', 'work.txt')).toBe('done on machine 0\n');
    expect(await eventsOf(w, run.executionId, 'workspace_restored')).toBe(1);
    expect(await eventsOf(w, run.executionId, 'progress')).toBe(1);
    expect(await eventsOf(w, run.executionId, 'resume_failed')).toBe(0);
    // Each question was asked once.
    const questions = await w.server.prisma.executionEvent.findMany({
      where: { executionId: run.executionId, type: 'state' },
    });
    const kinds = questions
      .map((e) => (e.data as { approval_request?: { kind: string } }).approval_request?.kind)
      .filter(Boolean);
    expect(kinds).toEqual(['secret_scan', 'pull_request']);
    expect(await w.server.prisma.workspaceSnapshot.count()).toBe(0);
  });
});
