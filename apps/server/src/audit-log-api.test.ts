import { readFile } from 'node:fs/promises';
import { verifyAuditChain } from '@ccl/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Json, startTestServer, type TestServer } from './test-support/test-server.ts';

describe('GET /api/audit/events: search, export, audited reads; POST /api/audit/prune', () => {
  let server: TestServer;
  let token: string;
  const get = (path: string, auth = true) =>
    fetch(`${server.url}${path}`, auth ? { headers: { authorization: `Bearer ${token}` } } : {});

  beforeAll(async () => {
    server = await startTestServer({ backend: 'postgres' });
    token = /token: (ccl_\S+)/.exec(server.output())?.[1] ?? '';
    // Some history: a session, a submitted task, two refusals (the local developer lacks audit:view).
    const headers = { 'content-type': 'application/json' };
    const session = (await (
      await fetch(`${server.url}/api/runtime/sessions`, { method: 'POST', headers, body: '{}' })
    ).json()) as Json;
    await fetch(`${server.url}/api/runtime/tasks/submit`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        agent_type: 'echo',
        prompt: 'p',
        context: { project: 'needle-in-the-haystack' },
        session_id: session.session_id,
      }),
    });
    await fetch(`${server.url}/api/audit/events`);
    await fetch(`${server.url}/api/audit/events?format=csv`);
  });
  afterAll(async () => server?.stop());

  it('finds rows by a substring of action, resource, actor or detail (q), case-insensitively', async () => {
    const byDetail = (await (await get('/api/audit/events?q=NEEDLE-IN')).json()) as Json;
    expect(byDetail.items.map((i: Json) => i.action)).toContain('task.submit');
    for (const item of byDetail.items) expect(JSON.stringify(item).toLowerCase()).toContain('needle-in');
    const byAction = (await (await get('/api/audit/events?q=audit%3Aview&outcome=denied')).json()) as Json;
    expect(byAction.items).toHaveLength(2);
    expect(byAction.items.every((i: Json) => i.actor_user_id === 'local')).toBe(true);
    const wildcard = (await (await get('/api/audit/events?q=%25')).json()) as Json;
    expect(wildcard.items).toEqual([]);
    const bad = await get('/api/audit/events?q=');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).message).toMatch(/q/);
  });

  it('records every read with its filter as audit.read, after the read', async () => {
    await get('/api/audit/events?action=task.submit&limit=5');
    const reads = await server.prisma.auditEvent.findMany({
      where: { action: 'audit.read' },
      orderBy: { id: 'desc' },
      take: 1,
    });
    expect(reads[0]).toMatchObject({
      actorUserId: 'admin',
      outcome: 'ALLOWED',
      detail: { filter: { action: 'task.submit', format: 'json' }, rows: 1 },
    });
  });

  it('streams every matching row as NDJSON and as CSV, as downloads', async () => {
    await get(`/api/audit/events?q=${encodeURIComponent('<b>')}`);
    const nd = await get('/api/audit/events?format=ndjson&limit=1');
    expect(nd.status).toBe(200);
    expect(nd.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
    expect(nd.headers.get('content-disposition')).toMatch(/^attachment; filename="audit-.*\.ndjson"$/);
    const text = await nd.text();
    expect(text).not.toContain('<b>');
    expect(text).toContain('\\u003cb\\u003e');
    const rows = text
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(rows.length).toBeGreaterThan(3);
    expect(rows.map((r) => Number(r.id))).toEqual([...rows.map((r) => Number(r.id))].sort((a, b) => b - a));
    expect(rows.find((r) => r.action === 'task.submit')?.detail).toBeDefined();

    const csv = await get('/api/audit/events?format=csv&q=needle&action=task.submit');
    expect(csv.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(csv.headers.get('content-disposition')).toMatch(/filename="audit-.*\.csv"/);
    const lines = (await csv.text()).trim().split('\r\n');
    expect(lines[0]).toBe(
      'id,seq,at,actor_user_id,actor_session,actor_device,action,resource_type,resource_id,outcome,request_id,detail,hash',
    );
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/,task\.submit,task,.*"\{""/);

    const exportRead = await server.prisma.auditEvent.findFirst({
      where: { action: 'audit.read' },
      orderBy: { id: 'desc' },
    });
    expect(exportRead?.detail).toMatchObject({
      filter: { format: 'csv', q: 'needle', action: 'task.submit' },
      rows: 1,
    });
  });

  it('refuses an export without audit:view as JSON, audited, and an unknown format with 400', async () => {
    const denied = await get('/api/audit/events?format=ndjson', false);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as Json).message).toMatch(/lacks audit:view/);
    const bad = await get('/api/audit/events?format=xml');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as Json).message).toMatch(/format/);
  });

  it('prunes for admins: archives on the server, removes, and the chain still verifies', async () => {
    const before = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const res = await fetch(`${server.url}/api/audit/prune`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ before }),
    });
    expect(res.status).toBe(200);
    const result = (await res.json()) as Json;
    expect(result.removed).toBeGreaterThan(3);
    const archived = (await readFile(result.archive, 'utf8')).trim().split('\n');
    expect(archived).toHaveLength(result.removed);
    expect(await verifyAuditChain(server.deps)).toMatchObject({ ok: true });

    const future = await fetch(`${server.url}/api/audit/prune`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ before: '2999-01-01T00:00:00Z' }),
    });
    expect(future.status).toBe(400);
    expect(((await future.json()) as Json).message).toMatch(/future/);
  });
});
