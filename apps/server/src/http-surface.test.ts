import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WEB_DIST } from './static-web.ts';
import { readJson, startTestServer, type TestServer } from './test-support/test-server.ts';

describe('health, docs and the audit log', () => {
  let server: TestServer;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'redis' });
  });
  afterAll(async () => server?.stop());

  it('serves /healthz and /readyz', async () => {
    expect(await readJson(await fetch(`${server.url}/healthz`))).toEqual({ status: 'ok' });
    const ready = await fetch(`${server.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await readJson(ready)).toEqual({ status: 'ready', database: 'ok', queue: 'ok' });
  });

  it('publishes an OpenAPI 3 document generated from the schemas, with an operationId per route', async () => {
    const doc = await readJson(await fetch(`${server.url}/docs/json`));
    expect(doc.openapi).toMatch(/^3\./);
    const ops = Object.values(doc.paths as Record<string, Record<string, { operationId?: string }>>).flatMap(
      (p) => Object.values(p),
    );
    expect(ops.length).toBeGreaterThan(15);
    for (const op of ops) expect(op.operationId).toEqual(expect.any(String));
    expect(doc.paths['/api/runtime/tasks/submit'].post.requestBody).toBeDefined();
    // The root is the board when apps/web is built (board-static.test.ts), else a way to the docs.
    const root = await fetch(`${server.url}/`, { redirect: 'manual' });
    if (existsSync(join(WEB_DIST, 'index.html'))) {
      expect(root.status).toBe(200);
      expect(root.headers.get('content-type')).toMatch(/^text\/html/);
    } else {
      expect(root.status).toBe(302);
      expect(root.headers.get('location')).toBe('/docs');
    }
    const ui = await fetch(`${server.url}/docs`);
    expect(ui.status).toBe(200);
  });

  it('prints the first admin token once; with it the audit log is readable, without it 403', async () => {
    const token = /token: (ccl_\S+)/.exec(server.output())?.[1];
    expect(token).toBeDefined();
    for (let i = 0; i < 3; i++) await fetch(`${server.url}/api/runtime/sessions`, { method: 'POST' });
    const denied = await fetch(`${server.url}/api/audit/events`);
    expect(denied.status).toBe(403);
    expect(await readJson(denied)).toMatchObject({ message: "user 'local' lacks audit:view" });

    const res = await fetch(`${server.url}/api/audit/events?limit=2`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(res.status).toBe(200);
    const page = await readJson(res);
    expect(page.items).toHaveLength(2);
    expect(page.items[0].action).toBe('audit:view');
    expect(page.next_cursor).toEqual(expect.any(String));
    const next = await readJson(
      await fetch(`${server.url}/api/audit/events?limit=2&cursor=${page.next_cursor}`, {
        headers: { authorization: `Bearer ${token}` },
      }),
    );
    expect(Number(next.items[0].id)).toBeLessThan(Number(page.items[1].id));
    const filtered = await readJson(
      await fetch(`${server.url}/api/audit/events?outcome=denied&action=audit:view&actor=local`, {
        headers: { authorization: `Bearer ${token}` },
      }),
    );
    expect(filtered.items.every((i: { actor_user_id: string }) => i.actor_user_id === 'local')).toBe(true);

    const bad = await fetch(`${server.url}/api/audit/events`, {
      headers: { authorization: 'Bearer ccl_wrong' },
    });
    expect(bad.status).toBe(401);
  });
});
