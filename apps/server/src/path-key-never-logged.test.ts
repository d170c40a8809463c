import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

/** A raw request: fetch would normalise `/./k/` away before it left. */
function get(url: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/`, { path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject).end();
  });
}

describe('a key in the base URL (/k/<key>)', () => {
  let server: TestServer;
  let key: string;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team', LOG_LEVEL: 'info' } });
    const admin = (/token: (ccl_\S+)/.exec(server.output()) ?? [])[1] as string;
    const created = await fetch(`${server.url}/api/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'in a path' }),
    });
    key = (await readJson(created)).key;
  });
  afterAll(async () => server?.stop());

  it.each([
    ['//k/', (k: string) => `//k/${k}/api/runtime/agents`],
    ['/K/', (k: string) => `/K/${k}/api/runtime/agents`],
    ['/%6B/', (k: string) => `/%6B/${k}/api/runtime/agents`],
    ['/%6b/', (k: string) => `/%6b/${k}/api/runtime/agents`],
    ['/./k/', (k: string) => `/./k/${k}/api/runtime/agents`],
    [
      '/k/ with an encoded key',
      (k: string) => `/k/${encodeURIComponent(k).replace(/_/g, '%5F')}/api/runtime/agents`,
    ],
  ])(
    'is stripped from the log when spelled %s (it was logged whole), and serves as /k/ does',
    async (_spelling, path) => {
      const res = await get(server.url, path(key));
      expect(res.status, res.body).toBe(200);
      expect(res.body).not.toContain(key);
      const logs = server.logs();
      expect(logs).toContain('"url":"/api/runtime/agents"');
      expect(logs).not.toContain(key);
      expect(logs).not.toContain(key.slice(4, 20));
    },
  );

  it('keeps an unknown key out of the log and the answer, however spelled', async () => {
    const secret = 'ccl_not-a-real-key-but-still-secret';
    for (const path of [`//K/${secret}/api/nope`, `/%6B/${secret}/api/runtime/agents`, `/./k/${secret}`]) {
      const res = await get(server.url, path);
      expect(res.status).toBeLessThan(500);
      expect(res.body).not.toContain(secret);
    }
    expect(server.logs()).not.toContain('not-a-real-key');
  });
});
