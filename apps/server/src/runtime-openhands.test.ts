import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type FakeOpenHandsServer,
  ohAction,
  ohAgentMessage,
  ohConversationError,
  ohFinish,
  ohObservation,
  ohStats,
  startFakeOpenHands,
} from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { createGitFixture } from './test-support/git-fixture.ts';
import {
  type Json,
  readJson,
  startTestServer,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

const TERMINAL = ['completed', 'failed', 'cancelled'];
const SESSION_KEY = 'oh-session-key';
const LLM_KEY = 'sk-llm-secret';
const MODEL = 'anthropic/claude-sonnet-4-6';

/** A port on 127.0.0.1 that nothing listens on (taken, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((done) => srv.listen(0, '127.0.0.1', done));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((done) => srv.close(() => done()));
  return port;
}

describe('opendevin (OpenHands) runtime end to end', () => {
  let fake: FakeOpenHandsServer;
  let server: TestServer;
  let client: CoderClawClient;
  let repo: Awaited<ReturnType<typeof createGitFixture>>;
  let workspaces: string;

  beforeAll(async () => {
    fake = await startFakeOpenHands({ apiKey: SESSION_KEY });
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    repo = await createGitFixture({ 'hello.txt': 'hello\n', 'README.md': '# demo\n' });
    server = await startTestServer({
      backend: 'postgres',
      env: {
        OPENHANDS_URL: fake.url,
        OPENHANDS_API_KEY: SESSION_KEY,
        OPENHANDS_MODEL: MODEL,
        OPENHANDS_LLM_API_KEY: LLM_KEY,
        WORKSPACES_DIR: workspaces,
        // Every checkpoint would keep the workspace, but an OpenHands run's never do (below).
        WORKSPACE_SNAPSHOT_INTERVAL_S: '0',
      },
    });
    client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
  });
  afterAll(async () => {
    await server?.stop();
    await fake?.close();
    await repo?.remove();
    if (workspaces) await rm(workspaces, { recursive: true, force: true });
  });

  const finalState = (taskId: string, timeoutMs = 15_000) =>
    waitFor(async () => {
      const s = await client.queryTaskState(taskId);
      return s && TERMINAL.includes(String(s.state)) ? (s as Json) : null;
    }, timeoutMs);

  const eventsOf = (executionId: string) =>
    server.prisma.executionEvent.findMany({ where: { executionId }, orderBy: { seq: 'asc' } });

  const workspaceOf = async (executionId: string) =>
    ((await eventsOf(executionId)).find((e) => e.type === 'workspace')?.data as { dir: string } | undefined)
      ?.dir;

  /** The StartConversationRequest the runner sent for the conversation on `workingDir`. */
  const createRequestFor = (workingDir: string) =>
    fake.requests.find(
      (r) =>
        r.method === 'POST' &&
        r.path === '/api/conversations' &&
        (r.body as Json)?.workspace?.working_dir === workingDir,
    );

  /** The editing session the fake agent plays: read, edit (on disk), run, report usage, finish. */
  function scriptEditingSession() {
    const read = ohAction({
      toolName: 'terminal',
      action: {
        kind: 'TerminalAction',
        command: 'cat hello.txt',
        is_input: false,
        timeout: null,
        reset: false,
      },
      thought: 'Let me read hello.txt first.',
    });
    const edit = ohAction({
      toolName: 'file_editor',
      action: {
        kind: 'FileEditorAction',
        command: 'str_replace',
        path: 'hello.txt',
        old_str: 'hello',
        new_str: 'hello world',
      },
    });
    const run = ohAction({
      toolName: 'terminal',
      action: {
        kind: 'TerminalAction',
        command: 'cat hello.txt',
        is_input: false,
        timeout: null,
        reset: false,
      },
    });
    fake.script(
      [
        read,
        ohObservation(read, 'hello'),
        ohStats({ model: MODEL, promptTokens: 600, completionTokens: 80, costUsd: 0.01 }),
        edit,
        { write_file: { path: 'hello.txt', content: 'hello world\n' } },
        ohObservation(edit, 'The file hello.txt has been edited.', { kind: 'FileEditorObservation' }),
        run,
        ohObservation(run, 'hello world'),
        ohStats({ model: MODEL, promptTokens: 1500, completionTokens: 200, costUsd: 0.042 }),
        ohAgentMessage('All done.'),
        ohFinish('Extended the greeting.'),
      ],
      { finalStatus: 'finished' },
    );
  }

  it('lists opendevin as available at OPENHANDS_URL', async () => {
    const agents = await client.listAgents();
    const oh = agents.find((a) => a.agent_type === 'opendevin') as Json;
    expect(oh).toMatchObject({ available: true, metadata: { url: fake.url } });
  });

  it('reads a file, edits it, runs a command and finishes with the diff and usage', async () => {
    scriptEditingSession();
    const prompt = 'Make hello.txt greet the world';
    const { task_id, execution_uuid } = await client.submit('opendevin', prompt, { repo: repo.dir });
    const final = await finalState(String(task_id));
    expect(final.error).toBeNull();
    expect(final.state).toBe('completed');
    expect(final.result).toBe('Extended the greeting.');
    expect(final.metadata).toMatchObject({
      agent: 'opendevin',
      agent_type: 'opendevin',
      model: MODEL,
      turns: 4,
      input_tokens: 1500,
      output_tokens: 200,
      cost_usd: 0.042,
      execution_status: 'finished',
      changed_files: ['hello.txt'],
    });
    expect(final.metadata.diff).toContain('+hello world');
    expect(final.metadata.usage).toMatchObject({ input_tokens: 1500, output_tokens: 200, model: MODEL });
    expect(final.metadata.usage.cost_usd).toBeCloseTo(0.042, 6);

    // The conversation ran on this execution's checkout, with our agent LLM and the prompt.
    const dir = await workspaceOf(String(execution_uuid));
    expect(dir).toBe(join(workspaces, String(execution_uuid)));
    expect(await readFile(join(String(dir), 'hello.txt'), 'utf8')).toBe('hello world\n');
    const create = createRequestFor(String(dir));
    expect(create).toBeDefined();
    expect(create?.headers['x-session-api-key']).toBe(SESSION_KEY);
    const body = create?.body as Json;
    expect(body.agent.llm).toMatchObject({ model: MODEL, api_key: LLM_KEY });
    expect(body.initial_message.content[0].text).toBe(prompt);
    const id = String(final.metadata.conversation_id);
    expect(fake.conversation(id)?.status).toBe('finished');
    // A finished conversation is left alone, and its socket is closed.
    expect(fake.paused).not.toContain(id);
    expect(fake.deleted).not.toContain(id);
    await waitFor(async () => fake.openSockets === 0, 2000);

    const events = await eventsOf(String(execution_uuid));
    const calls = events.filter((e) => e.type === 'tool_call').map((e) => e.data as Json);
    expect(calls.map((c) => c.name)).toEqual(['terminal', 'file_editor', 'terminal', 'finish']);
    expect(calls[0].input).toMatchObject({ command: 'cat hello.txt' });
    const results = events.filter((e) => e.type === 'tool_result').map((e) => (e.data as Json).output);
    expect(results).toEqual(['hello', 'The file hello.txt has been edited.', 'hello world']);
    const messages = events.filter((e) => e.type === 'message').map((e) => (e.data as Json).text);
    expect(messages).toEqual(expect.arrayContaining(['Let me read hello.txt first.', 'All done.']));
    expect(events.some((e) => e.type === 'artifact' && (e.data as Json).kind === 'diff')).toBe(true);
    const states = events.filter((e) => e.type === 'state').map((e) => (e.data as { to: string }).to);
    expect(states).toEqual(['planning', 'running', 'completed']);
    // The keys never reach what the portal stores.
    const stored = JSON.stringify({ final, events: events.map((e) => e.data) });
    expect(stored).not.toContain(SESSION_KEY);
    expect(stored).not.toContain(LLM_KEY);
  });

  it('the openhands alias runs on the same runtime', async () => {
    const done = ohFinish('Nothing to change.');
    fake.script([ohStats({ model: MODEL, promptTokens: 10, completionTokens: 5, costUsd: 0.001 }), done]);
    const { task_id } = await client.submit('openhands', 'Check the repo', { repo: repo.dir });
    const final = await finalState(String(task_id));
    expect(final.state).toBe('completed');
    expect(final.result).toBe('Nothing to change.');
    expect(final.metadata).toMatchObject({
      agent: 'opendevin',
      agent_type: 'opendevin',
      requested_agent: 'openhands',
      input_tokens: 10,
      output_tokens: 5,
      changed_files: [],
    });
  });

  it('cancel mid-run pauses and deletes the conversation, closes the socket, ends CANCELLED within 3 s', async () => {
    fake.script(
      [
        ohAgentMessage('Thinking about it…'),
        ohStats({ promptTokens: 10, completionTokens: 5 }),
        { sleep_ms: 60_000 },
      ],
      { finalStatus: null },
    );
    const { task_id, execution_uuid } = await client.submit('opendevin', 'Take your time', {});
    await waitFor(async () => (await client.queryTaskState(String(task_id)))?.state === 'running');
    // The agent is mid-run: its first message is on record and the conversation is running remotely.
    await waitFor(async () => (await eventsOf(String(execution_uuid))).some((e) => e.type === 'message'));
    const dir = String(await workspaceOf(String(execution_uuid)));
    const id = fake.conversationIds.find(
      (c) => (fake.conversation(c)?.request.workspace as Json)?.working_dir === dir,
    );
    if (!id) throw new Error(`no conversation on ${dir}`);
    expect(fake.conversation(id)?.status).toBe('running');
    expect(fake.openSockets).toBeGreaterThan(0);
    // Its checkpoint is stored, but no workspace with it: the conversation goes on without the
    // worker, so no pickup could go back to that checkpoint.
    const executionId = String(execution_uuid);
    await waitFor(async () =>
      (await server.prisma.execution.findUniqueOrThrow({ where: { id: executionId } })).checkpoint
        ? true
        : null,
    );
    expect(await server.prisma.workspaceSnapshot.count({ where: { executionId } })).toBe(0);

    const started = Date.now();
    expect(await client.cancel(String(task_id))).toBe(true);
    const final = await finalState(String(task_id), 3000);
    expect(final.state).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(3000);
    // CANCELLED is written after the runner's cleanup: the remote agent is stopped and gone.
    expect(fake.paused).toContain(id);
    expect(fake.deleted).toContain(id);
    expect(fake.conversation(id)).toBeUndefined();
    await waitFor(async () => fake.openSockets === 0, 1000);
  });

  it('a cost over context.max_cost_usd stops the remote agent and ends FAILED naming the limit', async () => {
    fake.script(
      [
        ohAgentMessage('Spending…'),
        ohStats({ promptTokens: 1000, completionTokens: 100, costUsd: 0.5 }),
        { sleep_ms: 60_000 },
      ],
      { finalStatus: null },
    );
    const deletedBefore = fake.deleted.length;
    const { task_id } = await client.submit('opendevin', 'Spend a lot', { max_cost_usd: 0.1 });
    const final = await finalState(String(task_id), 5000);
    expect(final.state).toBe('failed');
    expect(final.error).toBe('cost limit reached: $0.5000 > $0.1 (context.max_cost_usd)');
    // The conversation was stopped remotely before the run ended.
    expect(fake.deleted.length).toBe(deletedBefore + 1);
  });

  it('over max_cost_usd under on_limit "ask": the conversation is paused and the run parks without a slot; approved, the same conversation runs on to COMPLETED', async () => {
    const { key } = await server.addUserWithKey('budget-boss', 'ADMIN');
    const admin = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ slug: 'oh-asks', settings: { max_cost_usd: 0.1, on_limit: 'ask' } }),
    });
    expect(created.status).toBe(201);
    fake.script([
      ohAgentMessage('Spending…'),
      ohStats({ promptTokens: 1000, completionTokens: 100, costUsd: 0.5 }),
      { sleep_ms: 400 },
      ohAgentMessage('Went on after the approval.'),
      ohFinish('Spent, with leave.'),
    ]);
    const submitted = await fetch(`${server.url}/api/tasks`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({
        project: 'oh-asks',
        title: 'Spend with leave',
        prompt: 'Spend',
        agent_type: 'opendevin',
      }),
    });
    expect(submitted.status).toBe(201);
    const executionId = String((await readJson(submitted)).latest_execution.id);
    const row = () => server.prisma.execution.findUniqueOrThrow({ where: { id: executionId } });
    await waitFor(async () => ((await row()).state === 'WAITING' ? true : null), 10_000);
    expect((await row()).pendingApproval).toMatchObject({
      kind: 'budget',
      details: { limit: 'max_cost_usd' },
    });
    const conversationId = String(
      ((await row()).checkpoint as { runner: { conversation_id: string } }).runner.conversation_id,
    );
    // Paused, not deleted: the agent spends nothing while a person decides, and no worker holds the run.
    await waitFor(async () => (fake.paused.includes(conversationId) ? true : null), 5_000);
    expect(fake.deleted).not.toContain(conversationId);
    await waitFor(async () => ((await server.deps.queue.counts?.())?.active === 0 ? true : null), 5_000);
    await new Promise((r) => setTimeout(r, 600));
    expect(fake.conversation(conversationId)?.status).toBe('paused');

    expect((await decide(executionId, 'approve')).status).toBe(200);
    const done = await waitFor(async () => {
      const r = await row();
      return ['COMPLETED', 'FAILED', 'CANCELLED'].includes(r.state) ? r : null;
    }, 15_000);
    expect(done.state, String(done.error)).toBe('COMPLETED');
    expect(done.result).toBe('Spent, with leave.');
    expect(done.usage).toMatchObject({ input_tokens: 1000, output_tokens: 100, cost_usd: 0.5 });
    const messages = (await eventsOf(executionId)).filter((e) => e.type === 'message');
    expect(messages.map((e) => (e.data as { text: string }).text)).toEqual([
      'Spending…',
      'Went on after the approval.',
    ]);
    // The same conversation went on: one was created for the run, and it ran twice.
    expect(fake.conversation(conversationId)?.runs).toBe(2);
  });

  /** The agent wants to run a command that writes ran.txt; what it does next depends on the answer. */
  function scriptCommandNeedingApproval() {
    const cmd = ohAction({
      toolName: 'terminal',
      action: {
        kind: 'TerminalAction',
        command: 'echo ran > ran.txt',
        is_input: false,
        timeout: null,
        reset: false,
      },
    });
    fake.script([
      cmd,
      {
        after_confirmation: {
          accepted: [
            { write_file: { path: 'ran.txt', content: 'ran\n' } },
            ohObservation(cmd, ''),
            ohFinish('Ran the command.'),
          ],
          rejected: [
            ohAgentMessage('The reviewer said no; leaving the tree as it is.'),
            ohFinish('Skipped the command.'),
          ],
        },
      },
    ]);
  }

  const waitingState = (taskId: string) =>
    waitFor(async () => {
      const s = await client.queryTaskState(taskId);
      return s?.state === 'waiting' ? (s as Json) : null;
    });

  const decide = (executionId: string, verb: 'approve' | 'deny', comment?: string) =>
    fetch(`${server.url}/api/executions/${executionId}/${verb}`, {
      method: 'POST',
      ...(comment
        ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ comment }) }
        : {}),
    });

  it('approval mode: WAITING with the pending command, approve → the command runs → COMPLETED', async () => {
    scriptCommandNeedingApproval();
    const { task_id, execution_uuid } = await client.submit('opendevin', 'Write ran.txt', {
      repo: repo.dir,
      approval: 'commands',
    });
    const waiting = await waitingState(String(task_id));
    expect(waiting.metadata.pending_approval).toMatchObject({
      kind: 'command',
      description: 'run: echo ran > ran.txt',
      details: { tool: 'terminal', input: { command: 'echo ran > ran.txt' } },
    });
    const id = String(waiting.metadata.pending_approval.details.conversation_id);
    // The remote agent is held, not running ahead of the decision.
    expect(fake.conversation(id)?.status).toBe('waiting_for_confirmation');
    // Parked: no worker slot holds the run; its conversation waits on the agent-server, kept.
    await waitFor(async () => (await server.deps.queue.counts?.())?.active === 0);
    expect(fake.paused).not.toContain(id);
    expect(fake.deleted).not.toContain(id);
    expect(createRequestFor(String(await workspaceOf(String(execution_uuid))))?.body).toMatchObject({
      confirmation_policy: { kind: 'AlwaysConfirm' },
    });

    expect((await decide(String(execution_uuid), 'approve')).status).toBe(200);
    const final = await finalState(String(task_id));
    expect(final.state).toBe('completed');
    expect(final.result).toBe('Ran the command.');
    expect(final.metadata.changed_files).toEqual(['ran.txt']);
    const respond = fake.requests.filter(
      (r) => r.path === `/api/conversations/${id}/events/respond_to_confirmation`,
    );
    expect(respond.map((r) => r.body)).toEqual([{ accept: true }]);
    const states = (await eventsOf(String(execution_uuid)))
      .filter((e) => e.type === 'state')
      .map((e) => (e.data as { to: string }).to);
    expect(states).toEqual(['planning', 'running', 'waiting', 'running', 'completed']);
  });

  it('approval mode: deny → the agent reads the rejection, the command never runs, the run ends as the agent decides', async () => {
    scriptCommandNeedingApproval();
    const { task_id, execution_uuid } = await client.submit('opendevin', 'Write ran.txt', {
      repo: repo.dir,
      approval: 'commands',
    });
    const waiting = await waitingState(String(task_id));
    const id = String(waiting.metadata.pending_approval.details.conversation_id);
    expect((await decide(String(execution_uuid), 'deny', 'not on this repo')).status).toBe(200);

    const final = await finalState(String(task_id));
    expect(final.state).toBe('completed');
    expect(final.result).toBe('Skipped the command.');
    expect(final.metadata.changed_files).toEqual([]);
    const dir = String(await workspaceOf(String(execution_uuid)));
    await expect(readFile(join(dir, 'ran.txt'), 'utf8')).rejects.toThrow(/ENOENT/);
    // The agent-server got the reviewer's reason, recorded the rejection, and was run again to react.
    const respond = fake.requests.filter(
      (r) => r.path === `/api/conversations/${id}/events/respond_to_confirmation`,
    );
    expect(respond.map((r) => r.body)).toEqual([
      { accept: false, reason: expect.stringMatching(/^denied by .+: not on this repo$/) },
    ]);
    expect(fake.conversation(id)?.events).toContainEqual(
      expect.objectContaining({
        kind: 'UserRejectObservation',
        rejection_reason: expect.stringContaining('not on this repo'),
      }),
    );
    expect(fake.conversation(id)?.runs).toBe(2);
    const events = await eventsOf(String(execution_uuid));
    expect(events.map((e) => e.data as Json)).toContainEqual(
      expect.objectContaining({ isError: true, output: expect.stringContaining('rejected: denied by') }),
    );
  });

  it('approval mode: cancel while WAITING pauses and deletes the held conversation, ends CANCELLED', async () => {
    scriptCommandNeedingApproval();
    const { task_id } = await client.submit('opendevin', 'Write ran.txt', { approval: 'commands' });
    const waiting = await waitingState(String(task_id));
    const id = String(waiting.metadata.pending_approval.details.conversation_id);
    expect(await client.cancel(String(task_id))).toBe(true);
    expect((await finalState(String(task_id), 3000)).state).toBe('cancelled');
    expect(fake.paused).toContain(id);
    expect(fake.deleted).toContain(id);
    // Nothing was answered on the reviewer's behalf.
    expect(
      fake.requests.some((r) => r.path === `/api/conversations/${id}/events/respond_to_confirmation`),
    ).toBe(false);
  });

  it('a run that cannot park at its question (its WAITING move fails) stops the conversation it leaves', async () => {
    // The database refuses the move to WAITING, as it would a run cancelled at that very moment.
    await server.prisma.$executeRawUnsafe(`CREATE FUNCTION refuse_waiting() RETURNS trigger AS $$
      BEGIN IF NEW.state = 'WAITING' THEN RAISE EXCEPTION 'no waiting in this test'; END IF; RETURN NEW; END
      $$ LANGUAGE plpgsql`);
    await server.prisma.$executeRawUnsafe(
      'CREATE TRIGGER refuse_waiting BEFORE UPDATE ON executions FOR EACH ROW EXECUTE FUNCTION refuse_waiting()',
    );
    try {
      scriptCommandNeedingApproval();
      const before = fake.requests.length;
      const { task_id } = await client.submit('opendevin', 'Write ran.txt', { approval: 'commands' });
      expect((await finalState(String(task_id))).state).toBe('failed');
      const started = fake.requests
        .slice(before)
        .map((r) => /^\/api\/conversations\/([^/]+)\/run$/.exec(r.path)?.[1])
        .find(Boolean);
      expect(started).toBeTruthy();
      // Not left waiting for an answer nobody will give.
      expect(fake.paused).toContain(started);
      expect(fake.deleted).toContain(started);
    } finally {
      await server.prisma.$executeRawUnsafe('DROP TRIGGER refuse_waiting ON executions');
      await server.prisma.$executeRawUnsafe('DROP FUNCTION refuse_waiting()');
    }
  });

  it('a conversation error ends FAILED with its code and detail', async () => {
    fake.script(
      [
        ohAgentMessage('Calling the model…'),
        ohConversationError('LLMAuthenticationError', 'the LLM provider rejected the API key'),
      ],
      { finalStatus: 'error' },
    );
    const { task_id } = await client.submit('opendevin', 'Fail please', {});
    const final = await finalState(String(task_id));
    expect(final.state).toBe('failed');
    expect(final.error).toBe(
      'OpenHands conversation failed: LLMAuthenticationError: the LLM provider rejected the API key',
    );
    expect(final.metadata).toMatchObject({ agent: 'opendevin', execution_status: 'error' });
  });

  it('a 401 from the agent-server ends FAILED naming OPENHANDS_API_KEY, never the key', async () => {
    // A fresh probe first, so that the injected 401 meets the conversation request, not the probe.
    await client.listAgents();
    const conversationsBefore = fake.conversationIds.length;
    fake.failNext(401);
    const { task_id } = await client.submit('opendevin', 'Fail please', {});
    const final = await finalState(String(task_id));
    expect(final.state).toBe('failed');
    expect(final.error).toMatch(/OPENHANDS_API_KEY rejected by the agent-server/);
    expect(final.error).not.toContain(SESSION_KEY);
    expect(fake.conversationIds.length).toBe(conversationsBefore);
  });
});

describe('opendevin (OpenHands) runtime availability', () => {
  let server: TestServer;
  let client: CoderClawClient;
  let workspaces: string;
  let url: string;

  beforeAll(async () => {
    url = `http://127.0.0.1:${await closedPort()}`;
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    server = await startTestServer({
      backend: 'postgres',
      env: { OPENHANDS_URL: url, OPENHANDS_MODEL: MODEL, WORKSPACES_DIR: workspaces },
    });
    client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
  });
  afterAll(async () => {
    await server?.stop();
    if (workspaces) await rm(workspaces, { recursive: true, force: true });
  });

  it('lists opendevin unavailable when OPENHANDS_URL does not answer, and submit answers 400', async () => {
    const agents = await client.listAgents();
    const oh = agents.find((a) => a.agent_type === 'opendevin') as Json;
    expect(oh.available).toBe(false);
    expect(oh.metadata.reason).toContain('OPENHANDS_URL');
    expect(oh.metadata.reason).toMatch(/does not answer/);
    expect(oh.metadata.url).toBe(url);

    for (const agentType of ['opendevin', 'openhands']) {
      const res = await fetch(`${server.url}/api/runtime/tasks/submit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          agent_type: agentType,
          prompt: 'hello',
          context: {},
          session_id: client.sessionId,
        }),
      });
      expect(res.status).toBe(400);
      const text = await res.text();
      expect(text).toContain(`agent '${agentType}' is not available`);
      expect(text).toContain('OPENHANDS_URL');
    }
    expect(await server.prisma.execution.count()).toBe(0);
  });
});
