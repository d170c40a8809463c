import { randomUUID } from 'node:crypto';
import { processPendingDeliveries } from '@ccl/core';
import { uniquePrefix } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GithubWorld, linkProject, startGithubWorld } from './test-support/github-fixture.ts';
import { cliEnv, killAllCli, runCli, STACK_LINE } from './test-support/run-cli.ts';
import { startTestServer } from './test-support/test-server.ts';

describe('clawlink doctor with projects linked to GitHub', () => {
  let w: GithubWorld;
  beforeAll(async () => {
    w = await startGithubWorld();
    await w.github.addRepo('acme/ok', { files: { 'a.txt': 'a\n' } });
    await w.github.addRepo('acme/readonly', { files: { 'a.txt': 'a\n' } });
    w.github.repoPermissions('acme/readonly', { push: false });
    await linkProject(w, 'ok', { repo: 'acme/ok' });
    await linkProject(w, 'readonly', { repo: 'acme/readonly' });
    await linkProject(w, 'missing', { repo: 'acme/gone' });
  });
  afterAll(async () => {
    await killAllCli();
    await w?.stop();
  });

  it('says which linked repositories the credential reads and may push, and what is missing', async () => {
    const config = w.server.deps.config;
    const env = cliEnv({
      DATABASE_URL: w.server.databaseUrl,
      QUEUE_NAME: uniquePrefix('doctor-gh'),
      LOG_LEVEL: 'warn',
      GITHUB_TOKEN: w.token,
      GITHUB_API_URL: w.github.url,
      SECRETS_KEY: config.SECRETS_KEY ?? '',
    });
    const res = await runCli(['doctor'], env);
    expect(res.stdout).toMatch(
      /^ ok \s+github ok\s+server credential reads and may push acme\/ok \(base main\)$/m,
    );
    expect(res.stdout).toMatch(
      /^FAIL\s+github readonly\s+server credential reads acme\/readonly but may not push/m,
    );
    expect(res.stdout).toMatch(/^FAIL\s+github missing\s+GitHub answered 404/m);
    expect(res.code, res.text).toBe(1);
    expect(res.text).not.toContain(w.token);
    expect(res.stdout + res.stderr).not.toMatch(STACK_LINE);

    // A classic token without the repo scope: named.
    w.github.scopes = 'read:user';
    const scoped = await runCli(['doctor'], env);
    expect(scoped.stdout).toMatch(/^FAIL\s+github ok\s+.*lacks the public_repo \(or repo\) scope/m);
    w.github.scopes = 'repo';
  });
});

describe('GitHub webhook deliveries the server did not get to', () => {
  it('answers 503 naming GITHUB_WEBHOOK_SECRET when webhooks are not configured', async () => {
    const server = await startTestServer({ backend: 'postgres' });
    try {
      const res = await fetch(`${server.url}/api/github/webhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': 'ping', 'x-github-delivery': 'x' },
        body: '{}',
      });
      expect(res.status).toBe(503);
      expect(await res.json()).toMatchObject({ message: expect.stringContaining('GITHUB_WEBHOOK_SECRET') });
    } finally {
      await server.stop();
    }
  });

  it("a stored delivery no process handled (the server stopped after answering) is handled by the worker's sweep", async () => {
    const w = await startGithubWorld();
    try {
      await w.github.addRepo('acme/sweep', { files: { 'a.txt': 'a\n' } });
      await linkProject(w, 'sweep', { repo: 'acme/sweep' });
      const run = await w.submit('sweep', 'Swept', { files: { 'b.txt': 'b\n' } });
      await w.waitForState(run.executionId, ['COMPLETED']);
      const pr = await w.server.prisma.pullRequest.findUniqueOrThrow({
        where: { executionId: run.executionId },
      });
      // As the route stores it, but never handled.
      const id = randomUUID();
      await w.server.prisma.githubDelivery.create({
        data: {
          id,
          event: 'pull_request',
          payload: {
            action: 'closed',
            repository: { full_name: 'acme/sweep' },
            pull_request: { number: pr.number, merged: true },
          },
          receivedAt: new Date(Date.now() - 60_000),
        },
      });
      expect(await processPendingDeliveries(w.server.deps)).toBe(1);
      expect((await w.server.prisma.githubDelivery.findUniqueOrThrow({ where: { id } })).outcome).toBe(
        'merged: card to done',
      );
      expect((await w.server.prisma.task.findUniqueOrThrow({ where: { id: run.taskId } })).column).toBe(
        'done',
      );
      // Handled once: a second sweep finds nothing.
      expect(await processPendingDeliveries(w.server.deps)).toBe(0);
    } finally {
      await w.stop();
    }
  });
});
