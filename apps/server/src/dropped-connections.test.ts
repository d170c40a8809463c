import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isDroppedDatabaseConnection } from './dropped-connections.ts';

describe('dropped database connections', () => {
  it('recognises what pg reports when PostgreSQL ends a connection, and nothing else', async () => {
    const client = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
    await client.connect();
    const ended = new Promise<Error>((resolve) => client.on('error', resolve));
    const admin = new pg.Client({ connectionString: 'postgresql://postgres@127.0.0.1:5432/postgres' });
    await admin.connect();
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]?.pid]);
    await admin.end();
    const err = await ended;
    expect(isDroppedDatabaseConnection(err), `${err.message} ${(err as { code?: string }).code}`).toBe(true);
    expect(isDroppedDatabaseConnection(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isDroppedDatabaseConnection(new TypeError('x is not a function'))).toBe(false);
    // The code alone is not enough: it must come through pg.
    expect(isDroppedDatabaseConnection(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(
      false,
    );
  });
});
