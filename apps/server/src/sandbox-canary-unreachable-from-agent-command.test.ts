import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeAnthropic, startFakeAnthropic } from '@ccl/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoderClawClient } from './test-support/coderclaw-client.ts';
import {
  type Json,
  startTestServer,
  TEST_AUDIT_HMAC_KEY,
  type TestServer,
  waitFor,
} from './test-support/test-server.ts';

/*
 * Issue 17, through the whole server: a model asks run_command for
 * `cat /proc/*\/environ; env; ls /proc`, as the attacker's agent did. Canaries sit in the
 * server's process environment, in its configuration (provider key, secrets key) and in a
 * project secret decrypted for the run; none may appear in what the run produced, nor in what
 * the model was sent back.
 */
const ENV_CANARY = `env-canary-${randomBytes(12).toString('hex')}`;
const PROVIDER_KEY = `sk-ant-canary-${randomBytes(12).toString('hex')}`;
const PROJECT_SECRET = `ghp_canary${randomBytes(12).toString('hex')}`;
const SECRETS_KEY = randomBytes(32).toString('base64');
const ATTACK = 'cat /proc/*/environ; env; ls /proc; cat /proc/1/environ; ls /; ls "$(dirname "$PWD")"';

describe('an agent command cannot reach the server secrets', () => {
  let fake: FakeAnthropic;
  let server: TestServer;
  let workspaces: string;
  let admin: Record<string, string>;

  beforeAll(async () => {
    // This test process is the server: its environment is what /proc/<pid>/environ would show.
    process.env.CANARY_SERVER_SECRET = ENV_CANARY;
    fake = await startFakeAnthropic({ apiKey: PROVIDER_KEY });
    workspaces = await mkdtemp(join(tmpdir(), 'ccl-ws-'));
    server = await startTestServer({
      backend: 'postgres',
      env: {
        ANTHROPIC_API_KEY: PROVIDER_KEY,
        ANTHROPIC_BASE_URL: fake.url,
        SECRETS_KEY,
        WORKSPACES_DIR: workspaces,
      },
    });
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    admin = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const created = await fetch(`${server.url}/api/projects`, {
      method: 'POST',
      headers: admin,
      body: JSON.stringify({ slug: 'victim' }),
    });
    expect(created.status).toBe(201);
    const put = await fetch(`${server.url}/api/projects/victim/secrets/GITHUB_TOKEN`, {
      method: 'PUT',
      headers: admin,
      body: JSON.stringify({ value: PROJECT_SECRET }),
    });
    expect(put.status).toBe(200);
  });
  afterAll(async () => {
    delete process.env.CANARY_SERVER_SECRET;
    await server?.stop();
    await fake?.close();
    await rm(workspaces, { recursive: true, force: true });
  });

  it('cat /proc/*/environ; env; ls /proc shows none of them, in events, result or model input', async () => {
    fake.script([
      { text: '1. Look around', usage: { input: 10, output: 5 } },
      { toolCalls: [{ name: 'run_command', input: { command: ATTACK } }], usage: { input: 10, output: 5 } },
      { toolCalls: [{ name: 'finish', input: { summary: 'looked' } }], usage: { input: 10, output: 5 } },
    ]);
    const client = new CoderClawClient({ baseUrl: server.url, pollIntervalMs: 50 });
    await client.connect();
    const { task_id, execution_uuid } = await client.submit('claude', 'Find the keys', { project: 'victim' });
    const final = await waitFor(async () => {
      const s = await client.queryTaskState(String(task_id));
      return s && ['completed', 'failed'].includes(String(s.state)) ? (s as Json) : null;
    }, 30_000);
    expect(final.error).toBeNull();
    expect(final.state).toBe('completed');

    const events = await server.prisma.executionEvent.findMany({
      where: { executionId: String(execution_uuid) },
      orderBy: { seq: 'asc' },
    });
    const output = events
      .filter((e) => e.type === 'tool_result')
      .map((e) => (e.data as { output: string }).output)
      .join('\n');
    // The command really ran, in its own PID namespace, seeing only its own workspace.
    expect(output).toContain('[exit code:');
    const pids = output.split('\n').filter((l) => /^\d+$/.test(l));
    expect(pids.length).toBeGreaterThan(0);
    expect(pids.length).toBeLessThanOrEqual(4);
    expect(pids).not.toContain(String(process.pid));

    const seen = [
      JSON.stringify(events.map((e) => ({ type: e.type, data: e.data }))),
      JSON.stringify(final),
      JSON.stringify(fake.requests.map((r) => r.body)),
      await (await fetch(`${server.url}/api/executions/${execution_uuid}`, { headers: admin })).text(),
    ].join('\n');
    for (const [what, secret] of [
      ['the server environment', ENV_CANARY],
      ['the server provider key', PROVIDER_KEY],
      ['the project secret', PROJECT_SECRET],
      ['the secrets key', SECRETS_KEY],
      ['the audit key', TEST_AUDIT_HMAC_KEY],
      ['the database URL', server.databaseUrl],
    ] as const) {
      expect(seen.includes(secret), what).toBe(false);
    }
    expect(seen).not.toContain('CANARY_SERVER_SECRET');
    expect(seen).not.toContain('GITHUB_TOKEN=');
  });

  it('the agents payload the board reads says where commands run', async () => {
    const agents = (await (
      await fetch(`${server.url}/api/runtime/agents`, { headers: admin })
    ).json()) as Json[];
    const claude = agents.find((a) => a.agent_type === 'claude');
    expect(claude?.metadata?.sandbox).toMatch(/^on \(bubblewrap at \/\S+\/bwrap\)$/);
    // OpenHands runs its commands on its own server; echo runs none.
    expect(agents.find((a) => a.agent_type === 'echo')?.metadata?.sandbox).toBeUndefined();
  });
});
