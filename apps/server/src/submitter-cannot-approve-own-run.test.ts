import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

/**
 * Issue 17, item 10: a project may require four eyes. With `approval_by_submitter: false` the
 * user who submitted a run cannot approve or deny its waiting step (403 saying why); someone
 * else with task:approve can. Without the setting the submitter may, as before.
 */
describe('the submitter of a run cannot approve it under approval_by_submitter: false', () => {
  let server: TestServer;
  const as: Record<string, Record<string, string>> = {};
  const waitingRun = { echo: { steps: 2, delay_ms: 1, ask_approval: true } };

  const submit = async (who: string, project: string, context: Record<string, unknown>) => {
    const res = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: as[who],
      body: JSON.stringify({ project, title: 'needs a look', prompt: 'p', agent_type: 'echo', context }),
    });
    expect(res.status).toBe(201);
    const executionId = String((await readJson(res)).latest_execution.id);
    await waitFor(
      async () =>
        (await server.prisma.execution.findUniqueOrThrow({ where: { id: executionId } })).state === 'WAITING',
    );
    return executionId;
  };
  const decide = (who: string, executionId: string, verb: 'approve' | 'deny') =>
    fetch(`${server.url}/api/executions/${executionId}/${verb}`, {
      method: 'POST',
      headers: as[who],
      body: JSON.stringify({ comment: 'looked at it' }),
    });
  const stateOf = async (executionId: string) =>
    (await server.prisma.execution.findUniqueOrThrow({ where: { id: executionId } })).state;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    for (const [user, role] of [
      ['ada', 'ADMIN'],
      ['dev', 'DEVELOPER'],
      ['rev', 'DEVELOPER'],
    ] as const) {
      const { key } = await server.addUserWithKey(user, role);
      as[user] = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    }
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: as.ada,
      body: JSON.stringify({ slug: 'four-eyes', settings: { approval_by_submitter: false } }),
    });
    expect(created.status).toBe(201);
  });
  afterAll(async () => server?.stop());

  it('refuses the submitter (approve and deny, 403 naming why, audited) and lets a reviewer approve', async () => {
    // The task's own `approval_by_submitter: true` cannot undo the project's false.
    const executionId = await submit('dev', 'four-eyes', { ...waitingRun, approval_by_submitter: true });
    for (const verb of ['approve', 'deny'] as const) {
      const res = await decide('dev', executionId, verb);
      expect(res.status).toBe(403);
      expect((await readJson(res)).message).toBe(
        `user 'dev' submitted this run and cannot ${verb} it: project 'four-eyes' sets approval_by_submitter: false, so someone else with task:approve must decide`,
      );
    }
    expect(await stateOf(executionId)).toBe('WAITING');
    expect(
      await server.prisma.auditEvent.count({
        where: { actorUserId: 'dev', outcome: 'DENIED', resourceId: executionId },
      }),
    ).toBe(2);

    const approved = await decide('rev', executionId, 'approve');
    expect(approved.status).toBe(200);
    await waitFor(async () => (await stateOf(executionId)) === 'COMPLETED');
  });

  it('a task can ask for four eyes itself, in a project that does not', async () => {
    const executionId = await submit('dev', 'inbox', { ...waitingRun, approval_by_submitter: false });
    const res = await decide('dev', executionId, 'approve');
    expect(res.status).toBe(403);
    expect((await readJson(res)).message).toMatch(/the run sets approval_by_submitter: false/);
    expect((await decide('rev', executionId, 'deny')).status).toBe(200);
    await waitFor(async () => (await stateOf(executionId)) === 'FAILED');
  });

  it('without the setting the submitter approves their own run, as before', async () => {
    const executionId = await submit('dev', 'inbox', waitingRun);
    expect((await decide('dev', executionId, 'approve')).status).toBe(200);
    await waitFor(async () => (await stateOf(executionId)) === 'COMPLETED');
  });
});
