import { createApiKey } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { operatorCtx } from './cli-support.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

/**
 * Issue 17, item 4: a key limited to task:view called POST /api/keys and got a key with all of its
 * owner's permissions. A new key carries at most the calling credential's permissions.
 */
describe('API keys made with an API key', () => {
  let server: TestServer;
  const bearer = (key: string) => ({ 'content-type': 'application/json', authorization: `Bearer ${key}` });
  let viewOnly: string;
  let full: string;

  const mint = (key: string, body: Record<string, unknown>) =>
    fetch(`${server.url}/api/keys`, { method: 'POST', headers: bearer(key), body: JSON.stringify(body) });

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', role: 'api', env: { AUTH_MODE: 'team' } });
    await server.addUser('alice', 'DEVELOPER');
    const operator = operatorCtx();
    viewOnly = (
      await createApiKey(server.deps, operator, { userId: 'alice', name: 'ro', permissions: ['task:view'] })
    ).key;
    full = (await createApiKey(server.deps, operator, { userId: 'alice', name: 'full' })).key;
  });
  afterAll(async () => server?.stop());

  it('a key limited to task:view asking for more gets 403 naming what it lacks, and no key', async () => {
    const before = await server.prisma.apiKey.count();
    const res = await mint(viewOnly, {
      name: 'wider',
      permissions: ['task:view', 'task:submit', 'agent:execute'],
    });
    expect(res.status).toBe(403);
    const { message } = (await res.json()) as { message: string };
    expect(message).toMatch(/task:submit, agent:execute/);
    expect(message).not.toMatch(/task:view/);
    expect(await server.prisma.apiKey.count()).toBe(before);
    expect(
      await server.prisma.auditEvent.count({ where: { action: 'apikey.create', outcome: 'DENIED' } }),
    ).toBe(1);
  });

  it("a key limited to task:view asking with no list gets its own set, not the owner's", async () => {
    for (const body of [{ name: 'same' }, { name: 'same, empty list', permissions: [] }]) {
      const res = await mint(viewOnly, body);
      expect(res.status).toBe(201);
      const minted = await readJson(res);
      expect(minted.permissions).toEqual(['task:view']);
      expect((await fetch(`${server.url}/api/tasks`, { headers: bearer(minted.key) })).status).toBe(200);
      const submit = await fetch(`${server.url}/api/tasks`, {
        method: 'POST',
        headers: bearer(minted.key),
        body: JSON.stringify({ title: 'not allowed' }),
      });
      expect(submit.status).toBe(403);
    }
  });

  it("a key with the owner's whole role still mints keys that follow the role", async () => {
    const res = await mint(full, { name: 'follows the role' });
    expect(res.status).toBe(201);
    expect((await readJson(res)).permissions).toEqual([]);
    const narrowed = await mint(full, { name: 'narrowed', permissions: ['task:submit'] });
    expect(narrowed.status).toBe(201);
  });
});
