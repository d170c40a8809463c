import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type EmbeddedPostgresHandle, startEmbeddedPostgres } from './embedded-postgres.ts';

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

/** Occupies a random port in 20000-40000, so the server has to fall back from it. */
async function occupyRandomPort(): Promise<{ port: number; server: Server }> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 20_000);
    const server = createServer();
    const bound = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (bound) return { port, server };
  }
}

describe('startEmbeddedPostgres', () => {
  const started: EmbeddedPostgresHandle[] = [];
  let dataDir = '';
  const logs: string[] = [];
  const log = (message: string) => logs.push(message);

  afterAll(async () => {
    for (const handle of started) await handle.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
  });

  it('initialises, shares a running server, stops and restarts on the same data', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'ccl-embedded-pg-'));
    const blocker = await occupyRandomPort();
    const preferredPort = blocker.port;

    const first = await startEmbeddedPostgres({ dataDir, preferredPort, log });
    started.push(first);
    await new Promise((resolve) => blocker.server.close(resolve));
    expect(first.owned).toBe(true);
    const url = new URL(first.url);
    expect(url.hostname).toBe('127.0.0.1');
    expect(url.port).not.toBe(String(preferredPort));
    expect(url.pathname).toBe('/clawlink');
    expect(await query(first.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    await query(first.url, 'CREATE TABLE kept (value int); INSERT INTO kept VALUES (42)');

    const stateFile = join(dataDir, 'postgres.json');
    expect((await stat(stateFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(stateFile, 'utf8'))).toMatchObject({ port: Number(url.port) });

    const second = await startEmbeddedPostgres({ dataDir, preferredPort, log });
    expect(second).toMatchObject({ owned: false, url: first.url });
    await second.stop();
    expect(await query(first.url, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);

    await first.stop();
    await expect(query(first.url, 'SELECT 1')).rejects.toThrow();

    const restartedAt = performance.now();
    const third = await startEmbeddedPostgres({ dataDir, preferredPort, log });
    const restartMs = performance.now() - restartedAt;
    started.push(third);
    expect(third.owned).toBe(true);
    // The preferred port is free again, so it is used (and recorded) this time.
    expect(new URL(third.url).port).toBe(String(preferredPort));
    expect(await query(third.url, 'SELECT value FROM kept')).toEqual([{ value: 42 }]);
    expect(restartMs).toBeLessThan(2_000);
    await third.stop();
  });
});
