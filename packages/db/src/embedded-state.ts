import { chmod, readFile, writeFile } from 'node:fs/promises';

/** What a later process needs to reach the same server. */
export interface ServerState {
  password: string;
  port: number;
  /** True once the application database has been created in the cluster. */
  database?: boolean;
}

/** The saved state, or null before the first start. */
export async function readState(file: string): Promise<ServerState | null> {
  const text = await readFile(file, 'utf8').catch(() => null);
  if (text === null) return null;
  let state: Partial<ServerState> = {};
  try {
    state = JSON.parse(text) as Partial<ServerState>;
  } catch {
    // Reported below, with the file's name.
  }
  if (typeof state.password !== 'string' || typeof state.port !== 'number') {
    throw new Error(`${file} is not a valid embedded PostgreSQL state file`);
  }
  return { password: state.password, port: state.port, database: state.database === true };
}

export async function writeState(file: string, state: ServerState): Promise<void> {
  await writeFile(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode applies only when it creates the file.
  await chmod(file, 0o600);
}
