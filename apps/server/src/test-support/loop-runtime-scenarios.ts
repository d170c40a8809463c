import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './coderclaw-client.ts';
import { createGitFixture } from './git-fixture.ts';
import { type Json, startTestServer, type TestServer, waitFor } from './test-server.ts';

/** The scripting surface the Anthropic, OpenAI and Ollama fakes share. */
export interface ScriptedTurn {
  text?: string;
  toolCalls?: Array<{ name: string; input: Record<string, unknown> }>;
  usage?: { input: number; output: number };
  delayMsBetweenChunks?: number;
  status?: number;
  hang?: boolean;
}

export interface FakeProvider {
  script(turns: ScriptedTurn[]): void;
  readonly requests: unknown[];
  readonly closedEarly: number;
  waitForClosedEarly(count?: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export interface LoopRuntimeCase {
  agentType: 'claude' | 'openai' | 'ollama';
  start(): Promise<FakeProvider>;
  env(fake: FakeProvider): Record<string, string>;
  /** The turn that makes the provider refuse us, and the message the run must end with (null: no auth for this runtime). */
  authFailure: { turn: ScriptedTurn; message: RegExp } | null;
  serverError: { turn: ScriptedTurn; message: RegExp };
}

const TERMINAL = ['completed', 'failed', 'cancelled'];

/**
 * The same end-to-end scenarios for each API runtime, through the whole server:
 * CoderClaw's runtime API in, the provider's real wire protocol out.
 */
export function describeLoopRuntime(c: LoopRuntimeCase) {
  describe(`${c.agentType} runtime end to end`, () => {
    let fake: FakeProvider;
    let server: TestServer;
    let client: CoderClawClient;
    let repo: Awaited<ReturnType<typeof createGitFixture>>;
    let workspaces: string;

    beforeAll(async () => {
      fake = await c.start();
      workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
      repo = await createGitFixture({ 'hello.txt': 'hello\n', 'README.md': '# demo\n' });
      server = await startTestServer({
        backend: 'postgres',
        env: { ...c.env(fake), WORKSPACES_DIR: workspaces },
      });
      client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
      await client.connect();
    });
    afterAll(async () => {
      await server?.stop();
      await fake?.close();
      await repo?.remove();
      await rm(workspaces, { recursive: true, force: true });
    });

    const finalState = (taskId: string, timeoutMs = 15_000) =>
      waitFor(async () => {
        const s = await client.queryTaskState(taskId);
        return s && TERMINAL.includes(String(s.state)) ? (s as Json) : null;
      }, timeoutMs);

    it('reads a file, edits it, runs a command and finishes with the diff and usage', async () => {
      fake.script([
        { text: '1. Read hello.txt\n2. Extend the greeting\n3. Check it', usage: { input: 100, output: 20 } },
        {
          text: 'Reading.',
          toolCalls: [{ name: 'read_file', input: { path: 'hello.txt' } }],
          usage: { input: 200, output: 30 },
        },
        {
          toolCalls: [
            { name: 'edit_file', input: { path: 'hello.txt', old_text: 'hello', new_text: 'hello world' } },
          ],
          usage: { input: 300, output: 40 },
        },
        {
          toolCalls: [{ name: 'run_command', input: { command: 'cat hello.txt' } }],
          usage: { input: 400, output: 50 },
        },
        {
          toolCalls: [{ name: 'finish', input: { summary: 'Extended the greeting.' } }],
          usage: { input: 500, output: 60 },
        },
      ]);
      const { task_id, execution_uuid } = await client.submit(c.agentType, 'Make hello.txt greet the world', {
        repo: repo.dir,
      });
      const final = await finalState(String(task_id));
      expect(final.error).toBeNull();
      expect(final.state).toBe('completed');
      expect(final.result).toBe('Extended the greeting.');
      expect(final.metadata).toMatchObject({ agent: c.agentType, turns: 4, changed_files: ['hello.txt'] });
      expect(final.metadata.diff).toContain('+hello world');
      expect(final.metadata.usage.input_tokens).toBe(1500);
      expect(final.metadata.usage.output_tokens).toBe(200);
      expect(final.metadata.plan).toContain('Read hello.txt');

      const events = await server.prisma.executionEvent.findMany({
        where: { executionId: String(execution_uuid) },
        orderBy: { seq: 'asc' },
      });
      const results = events
        .filter((e) => e.type === 'tool_result')
        .map((e) => (e.data as { output: string }).output);
      expect(results.some((o) => o.includes('hello world'))).toBe(true);
      expect(events.some((e) => e.type === 'artifact' && (e.data as { kind: string }).kind === 'diff')).toBe(
        true,
      );
      const states = events.filter((e) => e.type === 'state').map((e) => (e.data as { to: string }).to);
      expect(states).toEqual(['planning', 'running', 'completed']);
    });

    it('cancel mid-stream closes the provider stream and ends CANCELLED within 2 s', async () => {
      fake.script([
        { text: '1. Think for a long time' },
        { text: 'thinking '.repeat(200), delayMsBetweenChunks: 100, hang: true },
      ]);
      const { task_id } = await client.submit(c.agentType, 'Take your time', {});
      await waitFor(async () => (await client.queryTaskState(String(task_id)))?.state === 'running');
      await new Promise((r) => setTimeout(r, 300));
      const closedBefore = fake.closedEarly;
      const started = Date.now();
      expect(await client.cancel(String(task_id))).toBe(true);
      const final = await finalState(String(task_id), 2000);
      expect(final.state).toBe('cancelled');
      expect(Date.now() - started).toBeLessThan(2000);
      await fake.waitForClosedEarly(closedBefore + 1, 2000);
    });

    it('a provider error ends FAILED with a clear message', async () => {
      const cases = [c.serverError, ...(c.authFailure ? [c.authFailure] : [])];
      for (const failure of cases) {
        // The planning turn fails; every retry (the SDK's own, then the job's) sees the same answer.
        fake.script(Array.from({ length: 12 }, () => failure.turn));
        const { task_id } = await client.submit(c.agentType, 'Fail please', {});
        const final = await finalState(String(task_id), 20_000);
        expect(final.state).toBe('failed');
        expect(final.error).toMatch(failure.message);
        expect(final.error).not.toContain('test-key');
      }
    });

    it('a limit breach ends FAILED saying which limit', async () => {
      fake.script([
        { text: 'plan' },
        { toolCalls: [{ name: 'list_files', input: {} }] },
        { toolCalls: [{ name: 'list_files', input: {} }] },
      ]);
      const { task_id } = await client.submit(c.agentType, 'Loop forever', { max_turns: 1 });
      const final = await finalState(String(task_id));
      expect(final.state).toBe('failed');
      expect(final.error).toBe('turn limit reached: 1 turns');
    });

    it('a token limit breach stops the run at once: the tool call in the same answer never runs', async () => {
      // One mechanism for every runtime: the worker checks each usage report and resumes the loop no more.
      fake.script([
        { text: 'plan', usage: { input: 10, output: 5 } },
        {
          toolCalls: [{ name: 'write_file', input: { path: 'late.txt', content: 'too late' } }],
          usage: { input: 5000, output: 10 },
        },
        { toolCalls: [{ name: 'finish', input: { summary: 'done' } }] },
      ]);
      const { task_id, execution_uuid } = await client.submit(c.agentType, 'Write late', {
        max_tokens: 1000,
      });
      const final = await finalState(String(task_id));
      expect(final.state).toBe('failed');
      expect(final.error).toBe('token limit reached: 5025 > 1000 tokens');
      const calls = await server.prisma.executionEvent.count({
        where: { executionId: String(execution_uuid), type: 'tool_call' },
      });
      expect(calls).toBe(0);
    });

    it('asks approval for a shell command in approval mode, then runs it', async () => {
      fake.script([
        { text: 'plan' },
        { toolCalls: [{ name: 'run_command', input: { command: 'echo approved-run > out.txt' } }] },
        { toolCalls: [{ name: 'finish', input: { summary: 'ran it' } }] },
      ]);
      const { task_id } = await client.submit(c.agentType, 'Run a command', { approval: 'commands' });
      const waiting = await waitFor(async () => {
        const s = await client.queryTaskState(String(task_id));
        return s?.state === 'waiting' ? (s as Json) : null;
      });
      expect(waiting.metadata.pending_approval).toMatchObject({
        kind: 'command',
        description: 'run: echo approved-run > out.txt',
      });
      const res = await fetch(`${server.url}/api/executions/${waiting.execution_uuid}/approve`, {
        method: 'POST',
      });
      expect(res.status).toBe(200);
      const final = await finalState(String(task_id));
      expect(final.state).toBe('completed');
      expect(final.metadata.changed_files).toEqual(['out.txt']);
      // The run parked while it waited and went on from its checkpoint: the model's last turn got
      // the whole conversation (task, plan, the approved command and its result), not a new start.
      const events = await server.prisma.executionEvent.findMany({
        where: { executionId: waiting.execution_uuid },
        orderBy: { seq: 'asc' },
      });
      expect(events.filter((e) => e.type === 'resumed')).toHaveLength(1);
      expect(events.filter((e) => e.type === 'tool_call')).toHaveLength(2);
      const last = JSON.stringify(fake.requests.at(-1));
      expect(last).toContain('Your plan:');
      expect(last).toContain('echo approved-run > out.txt');
      expect(fake.requests.length).toBeGreaterThanOrEqual(3);
    });
  });
}
