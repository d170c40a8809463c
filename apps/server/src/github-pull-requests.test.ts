import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { runExecution } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GithubWorld, linkProject, startGithubWorld } from './test-support/github-fixture.ts';
import { readJson } from './test-support/test-server.ts';

/** Every file under `dir`, as text (the workspace, .git included). */
function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesUnder(path));
    else if (st.size < 5_000_000) out.push(readFileSync(path, 'latin1'));
  }
  return out;
}

describe('GitHub: a completed run becomes a pull request', () => {
  let w: GithubWorld;

  beforeAll(async () => {
    w = await startGithubWorld({ LOG_LEVEL: 'debug' });
    await w.github.addRepo('acme/web', {
      files: { 'README.md': '# web\n', 'src/app.txt': 'one\ntwo\nthree\n' },
    });
    await linkProject(w, 'web', { repo: 'acme/web' });
  });
  afterAll(async () => w?.stop());

  it('clones the repository, pushes a branch, opens the PR, stores it and moves the card to Review', async () => {
    const { taskId, executionId } = await w.submit('web', 'Add a greeting', {
      files: { 'src/hello.txt': 'hello from the agent\n' },
    });
    const done = await w.waitForState(executionId, ['COMPLETED', 'FAILED']);
    expect(done.error).toBeNull();
    expect(done.state).toBe('COMPLETED');

    const pulls = w.github.pulls('acme/web');
    expect(pulls).toHaveLength(1);
    const pr = pulls[0] as (typeof pulls)[number];
    const branch = `clawlink/add-a-greeting-${executionId.slice(0, 8)}`;
    expect(pr.head.ref).toBe(branch);
    expect(pr.base.ref).toBe('main');
    expect(pr.title).toBe('Add a greeting');
    expect(pr.body).toContain('Do this: Add a greeting');
    expect(pr.body).toContain("Agent's summary");
    expect(pr.body).toContain('Cost: $');

    // The branch holds the agent's file on top of main, authored by the agent, naming user and task.
    expect(await w.git.readFile('acme/web', branch, 'src/hello.txt')).toBe('hello from the agent\n');
    const [commit] = await w.git.log('acme/web', branch);
    expect(commit?.authorName).toBe('echo agent (ClawLink)');
    expect(commit?.body).toContain(`ClawLink-Task: ${taskId}`);
    expect(commit?.body).toMatch(/Requested-by: |Co-authored-by: /);

    // Stored on the execution (its state's metadata) and on the card, which is in Review.
    const state = await readJson(await w.api('GET', `/api/runtime/tasks/${taskId}/state`));
    expect(state.metadata?.pull_request, JSON.stringify(state)).toMatchObject({
      url: pr.html_url,
      number: pr.number,
      branch,
    });
    const card = await readJson(await w.api('GET', `/api/tasks/${taskId}`));
    expect(card.column).toBe('review');
    // The card by its number, which GitHub would not take for one of its own issues (#N).
    expect(pr.body).toContain(
      `Opened by ClawLink for [card ${card.number}](http://clawlink.test/tasks/${card.number})`,
    );
    expect(card.pull_request).toMatchObject({ url: pr.html_url, number: pr.number, state: 'open' });

    const audit = await w.server.prisma.auditEvent.findMany({
      where: { action: { in: ['github.push', 'github.pr.create'] } },
      orderBy: { seq: 'asc' },
    });
    expect(audit.map((a) => [a.action, a.outcome, a.actorUserId])).toEqual([
      ['github.push', 'ALLOWED', 'local'],
      ['github.pr.create', 'ALLOWED', 'local'],
    ]);
    expect(audit[1]?.detail).toMatchObject({ repo: 'acme/web', number: pr.number, channel: 'github' });
  });

  it('never lets the token reach the workspace, the answers, the events, the audit log or the logs (canary)', async () => {
    const { taskId, executionId } = await w.submit('web', 'Canary run', { files: { 'c.txt': 'c\n' } });
    await w.waitForState(executionId, ['COMPLETED', 'FAILED']);
    const workspace = (
      await w.server.prisma.executionEvent.findFirstOrThrow({ where: { executionId, type: 'workspace' } })
    ).data as { dir: string };
    for (const text of filesUnder(workspace.dir)) expect(text).not.toContain(w.token);
    const basic = Buffer.from(`x-access-token:${w.token}`).toString('base64');
    const answers = [
      await (await w.api('GET', `/api/tasks/${taskId}`)).text(),
      await (await w.api('GET', `/api/executions/${executionId}/events`)).text(),
      await (await w.api('GET', `/api/runtime/tasks/${taskId}/state`)).text(),
      await (await w.api('GET', '/api/audit/events?limit=500')).text(),
      w.server.output(),
      w.server.logs(),
    ];
    for (const text of answers) {
      expect(text).not.toContain(w.token);
      expect(text).not.toContain(basic);
    }
    // git really was asked for the credential, and had it.
    expect(w.git.requests.some((r) => r.authorized)).toBe(true);
    expect(w.git.requests.filter((r) => r.hasAuthorization && !r.authorized)).toEqual([]);
  });

  it('makes exactly one PR when the job runs again after dying between the PR and its record', async () => {
    const { executionId } = await w.submit('web', 'Only once', { files: { 'once.txt': 'x\n' } });
    await w.waitForState(executionId, ['COMPLETED']);
    // As if the worker died after opening the PR but before recording it: the row and the state are gone.
    await w.server.prisma.pullRequest.delete({ where: { executionId } });
    await w.server.prisma.execution.update({ where: { id: executionId }, data: { state: 'RUNNING' } });
    await runExecution(w.server.deps, executionId, {
      signal: new AbortController().signal,
      attempt: 2,
      isFinalAttempt: true,
    });
    const branch = `clawlink/only-once-${executionId.slice(0, 8)}`;
    expect(w.github.pulls('acme/web').filter((p) => p.head.ref === branch)).toHaveLength(1);
    const row = await w.server.prisma.pullRequest.findUniqueOrThrow({ where: { executionId } });
    expect(row.branch).toBe(branch);
    const reused = await w.server.prisma.auditEvent.findFirst({
      where: { action: 'github.pr.create', detail: { path: ['reused'], equals: true } },
    });
    expect(reused).not.toBeNull();
  });

  it('rebases onto a base that moved during the run, and names the files when that conflicts', async () => {
    // A clean move: another file changes on main while the agent works.
    const clean = await w.submit('web', 'Rebase me', { files: { 'src/new.txt': 'new\n' }, delayMs: 1500 });
    await w.waitForState(clean.executionId, ['RUNNING']);
    await w.git.commitTo('acme/web', 'main', { 'README.md': '# web, edited on main\n' }, 'edit readme');
    const cleanDone = await w.waitForState(clean.executionId, ['COMPLETED', 'FAILED']);
    expect(cleanDone.error).toBeNull();
    const branch = `clawlink/rebase-me-${clean.executionId.slice(0, 8)}`;
    expect(await w.git.readFile('acme/web', branch, 'README.md')).toBe('# web, edited on main\n');
    expect(await w.git.readFile('acme/web', branch, 'src/new.txt')).toBe('new\n');

    // A conflicting move: main changes the line the agent changes.
    const clash = await w.submit('web', 'Clash', {
      files: { 'src/app.txt': 'ONE\ntwo\nthree\n' },
      delayMs: 1500,
    });
    await w.waitForState(clash.executionId, ['RUNNING']);
    await w.git.commitTo('acme/web', 'main', { 'src/app.txt': 'uno\ntwo\nthree\n' }, 'conflicting edit');
    const failed = await w.waitForState(clash.executionId, ['COMPLETED', 'FAILED']);
    expect(failed.state).toBe('FAILED');
    expect(failed.error).toMatch(/main branch moved .* conflict .* in src\/app\.txt/);
    expect(Object.keys(await w.git.branches('acme/web'))).not.toContain(
      `clawlink/clash-${clash.executionId.slice(0, 8)}`,
    );
  });

  it('pushes nothing when the diff holds a secret: the run waits naming file and line, never the value', async () => {
    const leaked = `ghp_${'a1B2c3D4e5'.repeat(4).slice(0, 36)}`;
    const { executionId } = await w.submit('web', 'Leaky', {
      files: { 'config/settings.ts': `export const x = 1;\nexport const token = '${leaked}';\n` },
    });
    const waiting = await w.waitForState(executionId, ['WAITING', 'COMPLETED', 'FAILED']);
    expect(waiting.state).toBe('WAITING');
    const request = waiting.pendingApproval as { kind: string; description: string };
    expect(request.kind).toBe('secret_scan');
    expect(request.description).toContain('config/settings.ts:2 (GitHub token)');
    expect(JSON.stringify(waiting.pendingApproval)).not.toContain(leaked);
    const branch = `clawlink/leaky-${executionId.slice(0, 8)}`;
    expect(Object.keys(await w.git.branches('acme/web'))).not.toContain(branch);
    const scan = await w.server.prisma.auditEvent.findFirstOrThrow({
      where: { action: 'github.secret_scan' },
    });
    expect(JSON.stringify(scan.detail)).not.toContain(leaked);
    expect(scan.detail).toMatchObject({
      findings: [{ file: 'config/settings.ts', line: 2, kind: 'GitHub token' }],
    });

    const deny = await w.api('POST', `/api/executions/${executionId}/deny`, { comment: 'remove the token' });
    expect(deny.status).toBe(200);
    const done = await w.waitForState(executionId, ['COMPLETED', 'FAILED']);
    expect(done.state).toBe('COMPLETED');
    expect(done.meta).toMatchObject({ delivery: expect.stringContaining('secret') });
    expect(Object.keys(await w.git.branches('acme/web'))).not.toContain(branch);
  });

  it('approve mode: waits with the diff summary before pushing; approve opens the PR, deny does not', async () => {
    await linkProject(w, 'careful', { repo: 'acme/web', pull_requests: 'approve', draft: true });
    const yes = await w.submit('careful', 'Approve me', { files: { 'a.txt': 'a\n' } });
    const waiting = await w.waitForState(yes.executionId, ['WAITING', 'COMPLETED', 'FAILED']);
    expect(waiting.pendingApproval).toMatchObject({ kind: 'pull_request' });
    expect((waiting.pendingApproval as { description: string }).description).toMatch(
      /1 file\(s\) changed, \+1/,
    );
    expect(w.github.pulls('acme/web').some((p) => p.title === 'Approve me')).toBe(false);
    expect((await w.api('POST', `/api/executions/${yes.executionId}/approve`, {})).status).toBe(200);
    await w.waitForState(yes.executionId, ['COMPLETED']);
    const pr = w.github.pulls('acme/web').find((p) => p.title === 'Approve me');
    expect(pr?.draft).toBe(true);

    const no = await w.submit('careful', 'Deny me', { files: { 'b.txt': 'b\n' } });
    await w.waitForState(no.executionId, ['WAITING']);
    expect((await w.api('POST', `/api/executions/${no.executionId}/deny`, {})).status).toBe(200);
    const done = await w.waitForState(no.executionId, ['COMPLETED', 'FAILED']);
    expect(done.state).toBe('COMPLETED');
    expect(w.github.pulls('acme/web').some((p) => p.title === 'Deny me')).toBe(false);
  });

  it('context.create_pr false skips the PR; a run without changes opens none', async () => {
    const off = await w.submit('web', 'No PR please', {
      files: { 'n.txt': 'n\n' },
      context: { create_pr: false },
    });
    expect((await w.waitForState(off.executionId, ['COMPLETED', 'FAILED'])).meta).toMatchObject({
      delivery: 'pull requests are off',
    });
    const empty = await w.submit('web', 'Nothing to do');
    expect((await w.waitForState(empty.executionId, ['COMPLETED', 'FAILED'])).meta).toMatchObject({
      delivery: 'no changes',
    });
    expect(
      w.github.pulls('acme/web').some((p) => p.title === 'No PR please' || p.title === 'Nothing to do'),
    ).toBe(false);
  });
});

describe('GitHub: credentials', () => {
  let w: GithubWorld;
  beforeAll(async () => {
    w = await startGithubWorld({}, { app: true });
    await w.github.addRepo('acme/app', { files: { 'README.md': '# app\n' } });
    await linkProject(w, 'app', { repo: 'acme/app' });
  });
  afterAll(async () => w?.stop());

  it('a GitHub App: one installation token, cached, serves clone, push and PR of several runs', async () => {
    const first = await w.submit('app', 'From the App', { files: { 'app.txt': 'app\n' } });
    expect((await w.waitForState(first.executionId, ['COMPLETED', 'FAILED'])).error).toBeNull();
    expect(w.github.pulls('acme/app').map((p) => p.title)).toEqual(['From the App']);
    expect(w.github.issuedTokens).toHaveLength(1);
    expect(
      w.github.requests.filter((r) => r.path.includes('/pulls') && r.method === 'POST').map((r) => r.auth),
    ).toEqual(['installation']);
    expect(w.git.requests.filter((r) => r.hasAuthorization && !r.authorized)).toEqual([]);

    // The next run reuses it: the token has most of its hour left (the refresh five minutes before
    // the end is client.test.ts's).
    const second = await w.submit('app', 'Second from the App', { files: { 'two.txt': '2\n' } });
    await w.waitForState(second.executionId, ['COMPLETED']);
    expect(w.github.issuedTokens).toHaveLength(1);
    for (const { token } of w.github.issuedTokens)
      expect(w.server.output() + w.server.logs()).not.toContain(token);
  });

  it("the project's own GITHUB_TOKEN secret goes before the server's credential", async () => {
    const put = await w.api(
      'PUT',
      '/api/projects/app/secrets/GITHUB_TOKEN',
      { value: 'ghp_notvalidnotvalidnotvalidnotvalid00' },
      w.admin,
    );
    expect(put.status).toBe(200);
    const run = await w.submit('app', 'With the project token', { files: { 'p.txt': 'p\n' } });
    const failed = await w.waitForState(run.executionId, ['COMPLETED', 'FAILED']);
    expect(failed.state).toBe('FAILED');
    expect(failed.error).toMatch(/could not read the linked GitHub repository: GitHub answered 401/);
    expect(failed.error).not.toContain('ghp_notvalid');
  });
});
