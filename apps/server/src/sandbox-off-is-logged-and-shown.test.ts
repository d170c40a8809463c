import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestServer, type TestServer } from './test-support/test-server.ts';

describe('SANDBOX=off, the explicit opt-out', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { SANDBOX: 'off', LOG_LEVEL: 'warn' } });
  });
  afterAll(() => server?.stop());

  it('is logged as a warning at boot and shown in the agents payload the board reads', async () => {
    const warning = server
      .logs()
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Json)
      .find((entry) => entry.msg === 'SANDBOX=off: agent commands are not sandboxed');
    expect(warning).toMatchObject({ level: 40, sandbox: expect.stringMatching(/^OFF \(SANDBOX=off\)/) });

    const token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    const res = await fetch(`${server.url}/api/runtime/agents`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const agents = (await res.json()) as Json[];
    for (const type of ['claude', 'openai', 'ollama', 'goose']) {
      expect(agents.find((a) => a.agent_type === type)?.metadata?.sandbox, type).toMatch(
        /^OFF \(SANDBOX=off\)/,
      );
    }
  });
});
