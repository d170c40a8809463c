import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { processGroupAlive } from '@ccl/agents';
import {
  type FakeGooseScript,
  type FakeGooseStep,
  gooseComplete,
  gooseError,
  gooseLog,
  gooseText,
  gooseToolRequest,
  gooseToolResponse,
  writeGooseScript,
} from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import { fakeGooseBin } from './test-support/fake-goose-bin.ts';
import { createGitFixture } from './test-support/git-fixture.ts';
import { type Json, startTestServer, type TestServer, waitFor } from './test-support/test-server.ts';

const TERMINAL = ['completed', 'failed', 'cancelled'];

/** Alive and not a zombie (an orphan killed with the group may wait a while for PID 1 to reap it). */
async function pidLive(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.slice(stat.lastIndexOf(')') + 2)[0] ?? '');
  } catch {
    return false;
  }
}

describe('goose runtime end to end', () => {
  let server: TestServer;
  let client: CoderClawClient;
  let repo: Awaited<ReturnType<typeof createGitFixture>>;
  let workspaces: string;
  let script: FakeGooseScript;
  let wrapper: { bin: string; dir: string };

  beforeAll(async () => {
    script = await writeGooseScript([]);
    wrapper = await fakeGooseBin(script);
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    repo = await createGitFixture({ 'hello.txt': 'hello\n', 'README.md': '# demo\n' });
    server = await startTestServer({
      backend: 'postgres',
      // The fake's script, record and wrapper live outside the workspace and these tests follow
      // goose's host pids: they run goose unconfined. goose-runs-in-the-sandbox.test.ts covers the
      // sandbox, and the catalog gives goose the sandbox whenever SANDBOX is on.
      env: { GOOSE_BIN: wrapper.bin, WORKSPACES_DIR: workspaces, SANDBOX: 'off' },
    });
    client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
  });
  afterAll(async () => {
    await server?.stop();
    await repo?.remove();
    if (workspaces) await rm(workspaces, { recursive: true, force: true });
    if (wrapper) await rm(wrapper.dir, { recursive: true, force: true });
    if (script) await rm(dirname(script.scriptPath), { recursive: true, force: true });
  });

  /** What the fake plays on its next start (the wrapper always points at the same script file). */
  async function play(steps: FakeGooseStep[]) {
    await rm(script.recordPath, { force: true });
    await writeFile(script.scriptPath, JSON.stringify(steps));
  }

  const finalState = (taskId: string, timeoutMs = 15_000) =>
    waitFor(async () => {
      const s = await client.queryTaskState(taskId);
      return s && TERMINAL.includes(String(s.state)) ? (s as Json) : null;
    }, timeoutMs);

  const eventsOf = (executionId: string) =>
    server.prisma.executionEvent.findMany({ where: { executionId }, orderBy: { seq: 'asc' } });

  it('lists goose as available with the binary it found', async () => {
    const agents = await client.listAgents();
    const goose = agents.find((a) => a.agent_type === 'goose') as Json;
    expect(goose).toMatchObject({ available: true, metadata: { bin: wrapper.bin } });
    expect(goose.capabilities).toEqual(expect.arrayContaining(['tools', 'streaming', 'local', 'approval']));
  });

  it('reads a file, edits it, runs a command and finishes with the diff and usage', async () => {
    await play([
      { line: gooseLog('developer', 'extension ready') },
      { line: gooseText('Let me look at hello.txt.') },
      { line: gooseToolRequest('call_1', 'developer__text_editor', { command: 'view', path: 'hello.txt' }) },
      { line: gooseToolResponse('call_1', 'hello\n') },
      {
        line: gooseToolRequest('call_2', 'developer__text_editor', {
          command: 'str_replace',
          path: 'hello.txt',
          old_str: 'hello',
          new_str: 'hello world',
        }),
      },
      { write_file: { path: 'hello.txt', content: 'hello world\n' } },
      { line: gooseToolResponse('call_2', 'The file hello.txt has been edited.') },
      { line: gooseToolRequest('call_3', 'developer__shell', { command: 'cat hello.txt' }) },
      { line: gooseToolResponse('call_3', 'hello world\n') },
      { line: gooseText('Extended ') },
      { line: gooseText('the greeting.') },
      { line: gooseComplete({ input: 1200, output: 340, costUsd: 0.0123 }) },
    ]);
    const { task_id, execution_uuid } = await client.submit('goose', 'Make hello.txt greet the world', {
      repo: repo.dir,
    });
    const final = await finalState(String(task_id));
    expect(final.error).toBeNull();
    expect(final.state).toBe('completed');
    expect(final.result).toBe('Extended the greeting.');
    expect(final.metadata).toMatchObject({
      agent: 'goose',
      agent_type: 'goose',
      turns: 3,
      input_tokens: 1200,
      output_tokens: 340,
      total_tokens: 1540,
      cost_usd: 0.0123,
      exit_code: 0,
      changed_files: ['hello.txt'],
    });
    expect(final.metadata.diff).toContain('-hello');
    expect(final.metadata.diff).toContain('+hello world');
    expect(final.metadata.usage).toMatchObject({ input_tokens: 1200, output_tokens: 340, cost_usd: 0.0123 });

    const events = await eventsOf(String(execution_uuid));
    const workspaceDir = (events.find((e) => e.type === 'workspace')?.data as { dir?: string } | undefined)
      ?.dir;
    expect(workspaceDir).toBe(join(workspaces, String(execution_uuid)));
    const calls = events.filter((e) => e.type === 'tool_call').map((e) => e.data as Json);
    expect(calls.map((c) => c.name)).toEqual([
      'developer__text_editor',
      'developer__text_editor',
      'developer__shell',
    ]);
    expect(calls[2].input).toEqual({ command: 'cat hello.txt' });
    const results = events.filter((e) => e.type === 'tool_result').map((e) => e.data as Json);
    expect(results.map((r) => r.id)).toEqual(['call_1', 'call_2', 'call_3']);
    expect(results[2].output).toContain('hello world');
    expect(events.some((e) => e.type === 'artifact' && (e.data as Json).kind === 'diff')).toBe(true);
    const states = events.filter((e) => e.type === 'state').map((e) => (e.data as { to: string }).to);
    expect(states).toEqual(['planning', 'running', 'completed']);

    // goose ran headless in the workspace with the documented flags and nothing of the server's environment.
    const record = await script.readRecord();
    expect(record?.cwd).toBe(workspaceDir);
    expect(record?.argv).toEqual([
      'run',
      '-t',
      'Make hello.txt greet the world',
      '--output-format',
      'stream-json',
      '--no-session',
      '-q',
      '--max-turns',
      '40',
    ]);
    expect(record?.env.GOOSE_MODE).toBe('auto');
    expect(
      Object.keys(record?.env ?? {}).filter((k) => /DATABASE|REDIS|SECRET|TOKEN|API_KEY/.test(k)),
    ).toEqual([]);
    expect(await processGroupAlive(record?.pid ?? 0)).toBe(false);
  });

  it('cancel mid-run kills the process group and ends CANCELLED within 3 s', async () => {
    await play([
      { line: gooseText('Working on it…') },
      { spawn_child: true },
      { line: gooseToolRequest('call_1', 'developer__shell', { command: 'sleep 60' }) },
      { sleep_ms: 60_000 },
      { line: gooseComplete() },
    ]);
    const { task_id, execution_uuid } = await client.submit('goose', 'Take your time', {});
    await waitFor(async () => (await client.queryTaskState(String(task_id)))?.state === 'running');
    // The tool call is on record: goose is mid-run, with a child of its own in its group.
    await waitFor(async () => (await eventsOf(String(execution_uuid))).some((e) => e.type === 'tool_call'));
    const record = await waitFor(async () => {
      const r = await script.readRecord();
      return r?.children.length ? r : null;
    });
    expect(await processGroupAlive(record.pid)).toBe(true);

    const started = Date.now();
    expect(await client.cancel(String(task_id))).toBe(true);
    const final = await finalState(String(task_id), 3000);
    expect(final.state).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(3000);
    // CANCELLED is written only after the runner saw the group gone.
    expect(await processGroupAlive(record.pid)).toBe(false);
    expect(await pidLive(record.pid)).toBe(false);
    for (const child of record.children) expect(await pidLive(child)).toBe(false);
  });

  it('cancel stops a goose that ignores SIGTERM (SIGKILL after the grace time) within 3 s', async () => {
    await play([{ ignore_sigterm: true }, { line: gooseText('Not listening…') }, { sleep_ms: 60_000 }]);
    const { task_id, execution_uuid } = await client.submit('goose', 'Ignore signals', {});
    await waitFor(async () => (await eventsOf(String(execution_uuid))).some((e) => e.type === 'message'));
    const record = await waitFor(() => script.readRecord());
    const started = Date.now();
    expect(await client.cancel(String(task_id))).toBe(true);
    const final = await finalState(String(task_id), 3000);
    expect(final.state).toBe('cancelled');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(await processGroupAlive(record.pid)).toBe(false);
  });

  it('context.max_turns becomes goose --max-turns; hitting it ends FAILED naming the limit, the group gone', async () => {
    await play([
      { spawn_child: true },
      { line: gooseToolRequest('call_1', 'developer__shell', { command: 'ls' }) },
      { line: gooseToolResponse('call_1', 'hello.txt\n') },
      { line: gooseToolRequest('call_2', 'developer__shell', { command: 'cat hello.txt' }) },
      { line: gooseToolResponse('call_2', 'hello\n') },
      { line: gooseToolRequest('call_3', 'developer__shell', { command: 'ls -la' }) },
      { line: gooseToolResponse('call_3', 'total 8\n') },
      { line: gooseText('Done.') },
      { line: gooseComplete({ input: 900, output: 120 }) },
    ]);
    const { task_id } = await client.submit('goose', 'Look around forever', { max_turns: 2 });
    const final = await finalState(String(task_id));
    expect(final.state).toBe('failed');
    expect(final.error).toBe('turn limit reached: 2 turns (goose --max-turns)');
    const record = await script.readRecord();
    if (!record) throw new Error('fake goose did not start');
    expect(record.argv).toEqual(expect.arrayContaining(['--max-turns', '2']));
    // Goose stopped before its third model call; its usage so far is still on record.
    expect(final.metadata).toMatchObject({ agent: 'goose', turns: 2, input_tokens: 900, exit_code: 0 });
    // Goose exited by itself, and what it left running in its group was stopped with it.
    expect(await processGroupAlive(record.pid)).toBe(false);
    for (const child of record.children) expect(await pidLive(child)).toBe(false);
  });

  it('without context.max_turns goose gets MAX_TURNS', async () => {
    await play([{ line: gooseText('Hi.') }, { line: gooseComplete() }]);
    const { task_id } = await client.submit('goose', 'Say hi', {});
    expect((await finalState(String(task_id))).state).toBe('completed');
    expect((await script.readRecord())?.argv).toEqual(expect.arrayContaining(['--max-turns', '40']));
  });

  /** Views a file (nobody asked), then runs a command that writes ran.txt; the agent's last words depend on the answer. */
  const approvalScript: FakeGooseStep[] = [
    { spawn_child: true },
    { line: gooseToolRequest('call_view', 'developer__text_editor', { command: 'view', path: 'hello.txt' }) },
    { line: gooseToolResponse('call_view', 'hello\n') },
    { line: gooseToolRequest('call_run', 'developer__shell', { command: 'echo ran > ran.txt' }) },
    { write_file: { path: 'ran.txt', content: 'ran\n' } },
    { line: gooseToolResponse('call_run', '') },
    {
      after_permission: {
        allowed: [{ line: gooseText('Wrote ran.txt.') }],
        declined: [{ line: gooseText('The command was declined; I changed nothing.') }],
      },
    },
    { line: gooseComplete() },
  ];

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

  it('approval mode: goose acp asks before the shell command and the run parks (no goose, no slot); approve → goose resumes its session, runs it → COMPLETED', async () => {
    await play(approvalScript);
    const { task_id, execution_uuid } = await client.submit('goose', 'Write ran.txt', {
      repo: repo.dir,
      approval: 'commands',
    });
    const waiting = await waitingState(String(task_id));
    expect(waiting.metadata.pending_approval).toMatchObject({
      kind: 'command',
      description: 'run: echo ran > ran.txt',
      details: { tool: 'Developer: Shell', input: { command: 'echo ran > ran.txt' } },
    });
    const record = await script.readRecord();
    if (!record) throw new Error('fake goose did not start');
    expect(record.argv).toEqual(['acp']);
    expect(record.env).toMatchObject({ GOOSE_MODE: 'approve', GOOSE_MAX_TURNS: '40' });
    // The run parked: goose and its group are gone, the question's checkpoint names goose's
    // session, and the command has not run.
    await waitFor(async () => !(await processGroupAlive(record.pid)), 5000);
    for (const child of record.children) expect(await pidLive(child)).toBe(false);
    const row = await server.prisma.execution.findUniqueOrThrow({ where: { id: String(execution_uuid) } });
    expect(row.checkpoint).toMatchObject({
      kind: 'approval',
      runner: {
        goose_session: '20250101_fake',
        asked: { title: 'Developer: Shell', input: { command: 'echo ran > ran.txt' } },
      },
    });
    const dir = join(workspaces, String(execution_uuid));
    await expect(readFile(join(dir, 'ran.txt'), 'utf8')).rejects.toThrow(/ENOENT/);

    await rm(script.recordPath, { force: true });
    expect((await decide(String(execution_uuid), 'approve')).status).toBe(200);
    const final = await finalState(String(task_id));
    expect(final.state).toBe('completed');
    expect(final.result).toBe('Wrote ran.txt.');
    expect(final.metadata).toMatchObject({ protocol: 'acp', changed_files: ['ran.txt'] });
    expect(await readFile(join(dir, 'ran.txt'), 'utf8')).toBe('ran\n');
    // A second goose loaded the first one's session and was told the answer; nobody was asked twice.
    const resumed = await script.readRecord();
    expect(resumed?.pid).not.toBe(record.pid);
    expect(resumed?.loaded).toBe('20250101_fake');
    expect(resumed?.prompts).toEqual([
      'The person reviewing this run approved your request to run: echo ran > ran.txt. Run it now, then go on with the task.',
    ]);
    const asked = (await eventsOf(String(execution_uuid))).filter(
      (e) => e.type === 'state' && (e.data as Json).to === 'waiting',
    );
    expect(asked).toHaveLength(1);
    expect(await processGroupAlive(Number(resumed?.pid))).toBe(false);
  });

  it('approval mode: deny → the command never runs, goose reports the decline, the agent decides the end', async () => {
    await play(approvalScript);
    const { task_id, execution_uuid } = await client.submit('goose', 'Write ran.txt', {
      repo: repo.dir,
      approval: 'commands',
    });
    await waitingState(String(task_id));
    expect((await decide(String(execution_uuid), 'deny', 'not today')).status).toBe(200);
    const final = await finalState(String(task_id));
    expect(final.state).toBe('completed');
    expect(final.result).toBe('The command was declined; I changed nothing.');
    expect(final.metadata.changed_files).toEqual([]);
    await expect(readFile(join(workspaces, String(execution_uuid), 'ran.txt'), 'utf8')).rejects.toThrow(
      /ENOENT/,
    );
    const results = (await eventsOf(String(execution_uuid)))
      .filter((e) => e.type === 'tool_result')
      .map((e) => e.data as Json);
    expect(results).toContainEqual(
      expect.objectContaining({ id: 'call_run', isError: true, output: expect.stringContaining('declined') }),
    );
  });

  it('approval mode: cancel while WAITING (parked: goose acp and its group already gone) ends CANCELLED', async () => {
    await play(approvalScript);
    const { task_id } = await client.submit('goose', 'Write ran.txt', { approval: 'commands' });
    await waitingState(String(task_id));
    const record = await script.readRecord();
    if (!record) throw new Error('fake goose did not start');
    expect(await client.cancel(String(task_id))).toBe(true);
    expect((await finalState(String(task_id), 3000)).state).toBe('cancelled');
    expect(await processGroupAlive(record.pid)).toBe(false);
    for (const child of record.children) expect(await pidLive(child)).toBe(false);
  });

  it('a goose error line ends FAILED with its message', async () => {
    await play([
      { line: gooseText('Calling the model…') },
      { line: gooseError('Request failed: Authentication failed (401): invalid x-api-key') },
      { stderr: 'Error: provider error' },
      { exit: 1 },
    ]);
    const { task_id } = await client.submit('goose', 'Fail please', {});
    const final = await finalState(String(task_id));
    expect(final.state).toBe('failed');
    expect(final.error).toBe('goose: Request failed: Authentication failed (401): invalid x-api-key');
    expect(final.metadata).toMatchObject({ agent: 'goose', exit_code: 1 });
  });

  it('goose exiting without completing ends FAILED with its exit code and stderr', async () => {
    await play([{ line: gooseText('half way') }, { stderr: 'thread main panicked: boom' }, { exit: 3 }]);
    const { task_id } = await client.submit('goose', 'Crash please', {});
    const final = await finalState(String(task_id));
    expect(final.state).toBe('failed');
    expect(final.error).toBe('goose exited with code 3 without completing: thread main panicked: boom');
  });
});

describe('goose runtime availability', () => {
  let server: TestServer;
  let client: CoderClawClient;
  let workspaces: string;
  const missing = join(tmpdir(), 'ccl-no-such-dir', 'goose');

  beforeAll(async () => {
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    server = await startTestServer({
      backend: 'postgres',
      env: { GOOSE_BIN: missing, WORKSPACES_DIR: workspaces },
    });
    client = new CoderClawClient({ baseUrl: server.url });
    await client.connect();
  });
  afterAll(async () => {
    await server?.stop();
    if (workspaces) await rm(workspaces, { recursive: true, force: true });
  });

  it('lists goose unavailable naming GOOSE_BIN, and submit answers 400 without starting a run', async () => {
    const agents = await client.listAgents();
    const goose = agents.find((a) => a.agent_type === 'goose') as Json;
    expect(goose.available).toBe(false);
    expect(goose.metadata.reason).toContain('GOOSE_BIN');
    expect(goose.metadata.reason).toContain(missing);

    const res = await fetch(`${server.url}/api/runtime/tasks/submit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        agent_type: 'goose',
        prompt: 'hello',
        context: {},
        session_id: client.sessionId,
      }),
    });
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).toContain('GOOSE_BIN');
    expect(text).toContain('goose binary not found');
    expect(await server.prisma.execution.count({ where: { agentType: 'goose' } })).toBe(0);
  });
});
