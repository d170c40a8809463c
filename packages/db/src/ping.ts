import pg from 'pg';

/** Opens one real connection and runs SELECT 1; throws a one-line error when the database cannot be reached. */
export async function pingDatabase(databaseUrl: string, timeoutMs = 3000): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}
