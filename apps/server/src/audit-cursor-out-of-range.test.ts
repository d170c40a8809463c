import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

// On loopback in local mode the local developer reads nothing of the audit log; the admin's token does.
describe('the audit log cursor', () => {
  let server: TestServer;
  let admin: Record<string, string>;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres', env: { AUTH_MODE: 'team' } });
    admin = { authorization: `Bearer ${(/token: (ccl_\S+)/.exec(server.output()) ?? [])[1]}` };
  });
  afterAll(async () => server?.stop());

  const page = (cursor: string, format = 'json') =>
    fetch(`${server.url}/api/audit/events?cursor=${cursor}&format=${format}`, { headers: admin });

  it.each([
    ['2^63', '9223372036854775808'],
    ['far beyond bigint', '99999999999999999999999999'],
  ])('answers 400 for a cursor past the largest row id (%s; it was a 500)', async (_name, cursor) => {
    for (const format of ['json', 'ndjson']) {
      const res = await page(cursor, format);
      expect(res.status, format).toBe(400);
      expect(await readJson(res)).toMatchObject({
        error: 'invalid',
        message: expect.stringMatching(/cursor/),
      });
    }
  });

  it('takes the largest bigint as a cursor', async () => {
    const res = await page('9223372036854775807');
    expect(res.status).toBe(200);
    expect((await readJson(res)).items.length).toBeGreaterThan(0);
  });
});
