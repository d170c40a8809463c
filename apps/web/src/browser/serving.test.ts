import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../../server/src/test-support/test-server.ts';
import { assertPrerequisites } from './support.ts';

const ASSETS = fileURLToPath(new URL('../../dist/assets/', import.meta.url));
const html = { accept: 'text/html,application/xhtml+xml' };

describe('the built board served by the API process', () => {
  let server: TestServer;
  beforeAll(async () => {
    assertPrerequisites();
    server = await startTestServer({ backend: 'postgres' });
  });
  afterAll(async () => server?.stop());

  it('serves index.html uncached and hashed assets cached for a year', async () => {
    const root = await fetch(`${server.url}/`, { headers: html });
    expect(root.status).toBe(200);
    expect(root.headers.get('cache-control')).toBe('no-cache');
    const page = await root.text();
    const script = /src="(\/assets\/[^"]+\.js)"/.exec(page)?.[1];
    expect(script).toBeDefined();
    const asset = await fetch(`${server.url}${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(readdirSync(ASSETS).every((f) => /-[\w-]{8,}\.(js|css)$/.test(f))).toBe(true);
    expect((await fetch(`${server.url}/assets/nope-12345678.js`)).status).toBe(404);
  });

  it('falls back to index.html for the SPA routes but never shadows /api, /docs or /healthz', async () => {
    for (const path of ['/agents', '/audit', '/queue', '/account', '/tasks/new', '/projects/demo']) {
      const res = await fetch(`${server.url}${path}`, { headers: html });
      expect(res.status, path).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect(await res.text()).toContain('<div id="root">');
    }
    const api = await fetch(`${server.url}/api/nope`, { headers: html });
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ error: 'not_found' });
    expect((await fetch(`${server.url}/healthz`, { headers: html })).status).toBe(200);
    const docs = await fetch(`${server.url}/docs/nope`, { headers: html });
    expect(await docs.text()).not.toContain('<div id="root">');
    expect((await fetch(`${server.url}/docs`, { headers: html })).status).toBe(200);
    // A non-page request to an unknown path stays a JSON 404.
    expect((await fetch(`${server.url}/whatever`, { headers: { accept: 'application/json' } })).status).toBe(
      404,
    );
  });
});
