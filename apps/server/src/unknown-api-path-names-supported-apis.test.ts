import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';
import { EventHub } from './event-hub.ts';
import { createLogger } from './log.ts';
import { startTestServer, type TestServer } from './test-support/test-server.ts';

// A CoderClaw version may call a path this server does not serve; the adapter shows our error body, so
// it must say which APIs this server speaks and where they are described. Pages still get the board.
describe('404 for an unknown /api path', () => {
  let server: TestServer;
  let app: Awaited<ReturnType<typeof buildApp>>;

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    const webDir = mkdtempSync(join(tmpdir(), 'ccl-web-'));
    writeFileSync(join(webDir, 'index.html'), '<!doctype html><title>board</title>');
    // An app of its own over the test server's deps, with a board build of its own: the real one may not be built.
    app = await buildApp({
      deps: server.deps,
      hub: new EventHub(),
      queuePing: async () => {},
      logger: createLogger({ LOG_LEVEL: 'silent' }),
      webDir,
    });
  });
  afterAll(async () => {
    await app?.close();
    await server?.stop();
  });

  it.each([
    ['GET', '/api/v2/foo'],
    ['POST', '/api/runtime/executions/7/pause'],
    ['GET', '/api'],
  ])('%s %s names the API families and /docs', async (method, url) => {
    const res = await app.inject({ method: method as 'GET', url, headers: { accept: 'application/json' } });
    expect(res.statusCode).toBe(404);
    const body = res.json();
    expect(body.error).toBe('not_found');
    expect(body.message).toContain(`no route ${method} ${url}`);
    expect(body.message).toContain("CoderClaw's session API (/api/runtime/sessions, /api/runtime/tasks/…)");
    expect(body.message).toContain('runtime-executions API (/api/runtime/executions…)');
    expect(body.message).toContain('see /docs');
  });

  it('keeps serving the board for a page path, and a plain 404 for other non-page misses', async () => {
    const page = await app.inject({ method: 'GET', url: '/tasks/42', headers: { accept: 'text/html' } });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<title>board</title>');
    const asset = await app.inject({ method: 'GET', url: '/favicon.ico', headers: { accept: 'image/*' } });
    expect(asset.statusCode).toBe(404);
    expect(asset.json().message).toBe('no route GET /favicon.ico');
    // An /api path asked for as a page is still the API's JSON 404.
    const api = await app.inject({ method: 'GET', url: '/api/v2/foo', headers: { accept: 'text/html' } });
    expect(api.statusCode).toBe(404);
    expect(api.json().message).toContain('see /docs');
  });
});
