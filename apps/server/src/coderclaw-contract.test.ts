import { taskStateSchema } from '@ccl/contracts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { BACKENDS, readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const STATES = ['pending', 'planning', 'running', 'waiting', 'completed', 'failed', 'cancelled'];

function expectTaskState(s: Record<string, unknown>) {
  expect(Object.keys(s).sort()).toEqual(
    ['error', 'execution_time', 'execution_uuid', 'metadata', 'result', 'state', 'success', 'task_id'].sort(),
  );
  expect(s.task_id).toMatch(UUID);
  expect(s.execution_uuid).toMatch(UUID);
  expect(STATES).toContain(s.state);
  expect(typeof s.success).toBe('boolean');
  expect(s.error === null || typeof s.error === 'string').toBe(true);
  expect(s.execution_time === null || typeof s.execution_time === 'number').toBe(true);
  expect(typeof s.metadata).toBe('object');
  // The state poll is serialized without zod (it is CoderClaw's hot path): its answers must still fit the schema.
  expect(taskStateSchema.safeParse(s).error).toBeUndefined();
}

describe.each(BACKENDS)('CoderClaw runtime contract (%s queue)', (backend) => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ backend });
    await server.addUser('bob', 'DEVELOPER');
    await server.addUser('vera', 'VIEWER');
  });
  afterAll(async () => server?.stop());

  it('runs the adapter flow: session → submit general-purpose → poll → cancel → agents → skills', async () => {
    const client = new CoderClawClient({
      baseUrl: `${server.url}/`,
      userId: 'bob',
      deviceId: 'laptop-1',
      pollIntervalMs: 1000,
    });

    const session = await client.connect();
    expect(Object.keys(session).sort()).toEqual([
      'created_at',
      'last_activity',
      'permissions',
      'session_id',
      'user_id',
    ]);
    expect(session.user_id).toBe('bob');
    expect(session.created_at).toMatch(ISO);
    expect(session.last_activity).toMatch(ISO);
    expect(session.permissions).toEqual(
      expect.arrayContaining(['task:submit', 'agent:execute', 'task:view']),
    );

    const submitted = await client.submit(undefined, 'Refactor the parser\nand keep behaviour', {
      description: 'Refactor the parser',
      model: 'echo-1',
      thinking: 'high',
      parentTaskId: 'parent-42',
      project: 'my-app',
      ticket: 'APP-7',
      echo: { steps: 4, delay_ms: 700 },
    });
    expectTaskState(submitted);
    expect(submitted.state).toBe('pending');
    expect(submitted.success).toBe(false);
    const taskId = String(submitted.task_id);

    const seen: Array<Record<string, unknown>> = [];
    for await (const state of client.stream(taskId)) {
      expectTaskState(state);
      seen.push(state);
    }
    const states = seen.map((s) => s.state);
    expect(states).toContain('running');
    expect(states.at(-1)).toBe('completed');
    const final = seen.at(-1) as Record<string, unknown>;
    expect(final.success).toBe(true);
    expect(final.result).toBe('echo: Refactor the parser\nand keep behaviour');
    expect(final.error).toBeNull();
    expect(final.execution_time).toBeGreaterThan(2);
    expect(final.metadata).toMatchObject({
      agent_type: 'echo',
      requested_agent: 'general-purpose',
      model: 'echo-1',
      project: 'my-app',
      title: 'Refactor the parser',
    });
    expect((final.metadata as { usage: Record<string, number> }).usage.output_tokens).toBeGreaterThan(0);

    expect(await client.cancel(taskId)).toBe(false);

    const agents = await client.listAgents();
    for (const a of agents) {
      expect(Object.keys(a).sort()).toEqual([
        'agent_type',
        'available',
        'capabilities',
        'description',
        'metadata',
        'name',
      ]);
    }
    const byType = Object.fromEntries(agents.map((a) => [a.agent_type, a]));
    expect(byType['general-purpose']?.available).toBe(true);
    for (const real of ['claude', 'openai', 'ollama', 'opendevin', 'goose']) {
      expect(byType[real]?.available).toBe(false);
      expect(byType[real]?.metadata).toMatchObject({ reason: expect.any(String) });
    }

    const skills = await client.listSkills();
    expect(skills.length).toBeGreaterThan(0);
    for (const s of skills) {
      expect(Object.keys(s).sort()).toEqual([
        'description',
        'metadata',
        'name',
        'required_permissions',
        'skill_id',
      ]);
    }

    // The card is on the board, in its project, with its execution; bob's session is in the audit log.
    const board = await fetch(`${server.url}/api/tasks?project=my-app`).then(readJson);
    expect(board.items[0]).toMatchObject({
      id: taskId,
      title: 'Refactor the parser',
      project_slug: 'my-app',
    });
    expect(board.items[0].latest_execution.state).toBe('completed');
    const audit = await server.prisma.auditEvent.findMany({ where: { actorUserId: 'bob' } });
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['session.create', 'task.submit']));
    expect(audit.find((a) => a.action === 'session.create')?.actorDevice).toBe('laptop-1');
  });

  it('refuses an unknown user with the command that fixes it, and names missing permissions', async () => {
    const stranger = new CoderClawClient({ baseUrl: server.url, userId: 'mallory' });
    await expect(stranger.connect()).rejects.toThrow(
      '403 {"error":"forbidden","message":"unknown user \'mallory\'; an admin can add it with: npm run clawlink -- user add mallory --role DEVELOPER"}',
    );
    const viewer = new CoderClawClient({ baseUrl: server.url, userId: 'vera' });
    await viewer.connect();
    await expect(viewer.submit('echo', 'x', {})).rejects.toThrow(/403 .*user 'vera' lacks task:submit/);
    const denied = await server.prisma.auditEvent.findMany({ where: { outcome: 'DENIED' } });
    expect(denied.map((d) => d.actorUserId)).toEqual(expect.arrayContaining(['mallory', 'vera']));
  });

  it('answers 404 for an unknown task or session, so queryTaskState returns null', async () => {
    const client = new CoderClawClient({ baseUrl: server.url, userId: 'bob' });
    await client.connect();
    expect(await client.queryTaskState('00000000-0000-4000-8000-000000000000')).toBeNull();
    const res = await fetch(`${server.url}/api/runtime/tasks/00000000-0000-4000-8000-000000000000/state`);
    expect(res.status).toBe(404);
    const ghost = await fetch(
      `${server.url}/api/runtime/agents?session_id=00000000-0000-4000-8000-000000000000`,
    );
    expect(ghost.status).toBe(404);
    expect(await readJson(ghost)).toMatchObject({ error: 'not_found' });
  });

  it('acts as the local developer for a loopback session without user_id', async () => {
    const client = new CoderClawClient({ baseUrl: server.url });
    const session = await client.connect();
    expect(session.user_id).toBe('local');
    const state = await client.submit('echo', 'hello', { echo: { steps: 1, delay_ms: 10 } });
    const states = [];
    for await (const s of client.stream(String(state.task_id))) states.push(s.state);
    expect(states.at(-1)).toBe('completed');
  });
});

// Beyond loopback nobody is implicit: the adapter's names ask for pairing, and the approval hands the
// device's owner a base URL with the device's secret. With it the unchanged adapter runs the contract.
describe('CoderClaw runtime contract on a team server', () => {
  let server: TestServer;
  let adminKey: string;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    await server.addUser('bob', 'DEVELOPER');
    adminKey = (/token: (ccl_\S+)/.exec(server.output()) ?? [])[1] as string;
  });
  afterAll(async () => server?.stop());

  it('names alone open no session (they did once approved); the base URL from the approval runs the whole flow', async () => {
    const named = new CoderClawClient({ baseUrl: server.url, userId: 'bob', deviceId: 'laptop-1' });
    await expect(named.connect()).rejects.toThrow(
      /403 .*device 'laptop-1' of user 'bob' is waiting for approval at http:\/\/127\.0\.0\.1:\d+\/admin\/devices; approving it shows a base URL with the device's secret, once/,
    );
    const device = await server.prisma.device.findUniqueOrThrow({
      where: { userId_deviceId: { userId: 'bob', deviceId: 'laptop-1' } },
    });
    const approved = await fetch(`${server.url}/api/devices/${device.id}/approve`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminKey}` },
    }).then(readJson);
    await expect(named.connect()).rejects.toThrow(/403 .*is approved, but names alone open no session/);

    const client = new CoderClawClient({
      baseUrl: `${approved.base_url}/`,
      userId: 'bob',
      deviceId: 'laptop-1',
      pollIntervalMs: 100,
    });
    const session = await client.connect();
    expect(session.user_id).toBe('bob');
    const submitted = await client.submit(undefined, 'through the device secret', {
      echo: { steps: 2, delay_ms: 50 },
    });
    expectTaskState(submitted);
    const states: unknown[] = [];
    for await (const s of client.stream(String(submitted.task_id))) {
      expectTaskState(s);
      states.push(s.state);
    }
    expect(states.at(-1)).toBe('completed');
    expect(await client.cancel(String(submitted.task_id))).toBe(false);
    expect((await client.listAgents()).length).toBeGreaterThan(0);
    expect((await client.listSkills()).length).toBeGreaterThan(0);
    // The session is bob's, on his device, in the audit log.
    const audit = await server.prisma.auditEvent.findMany({
      where: { actorUserId: 'bob', action: 'task.submit' },
    });
    expect(audit.map((a) => a.actorDevice)).toEqual(['laptop-1']);
  });
});
