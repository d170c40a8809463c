import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One step of a fake-goose script (see fixtures/fake-goose for what each does). */
export type FakeGooseStep =
  | { line: Record<string, unknown> }
  | { text: string }
  | { stderr: string }
  | { sleep_ms: number }
  | { write_file: { path: string; content: string } }
  | { spawn_child: true }
  | { ignore_sigterm: true }
  | { exit: number }
  /** After a tool's response: the agent's next steps when the call was allowed or declined (goose acp, approve mode). */
  | { after_permission: { allowed: FakeGooseStep[]; declined: FakeGooseStep[] } };

/** What fake-goose saw when it started. */
export interface FakeGooseRecord {
  pid: number;
  ppid: number;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  /** Pids of children started by `spawn_child` steps (same process group). */
  children: number[];
  /** goose acp: the text of each session/prompt it was sent. */
  prompts: string[];
  /** goose acp: the session id session/load loaded, if any. */
  loaded: string | null;
}

export interface FakeGooseScript {
  scriptPath: string;
  recordPath: string;
  /** FAKE_GOOSE_SCRIPT and FAKE_GOOSE_RECORD: pass these in the runner's env (it strips everything else). */
  env: Record<string, string>;
  /** The record fake-goose wrote, or undefined before it started. */
  readRecord(): Promise<FakeGooseRecord | undefined>;
}

/** Absolute path of the fake `goose` executable. */
export function fakeGoosePath(): string {
  return fileURLToPath(new URL('../../fixtures/fake-goose', import.meta.url));
}

/** Writes `steps` to a fresh temp dir and returns the env that makes fake-goose play them. */
export async function writeGooseScript(steps: FakeGooseStep[]): Promise<FakeGooseScript> {
  const dir = await mkdtemp(join(tmpdir(), 'fake-goose-'));
  const scriptPath = join(dir, 'script.json');
  const recordPath = join(dir, 'record.json');
  await writeFile(scriptPath, JSON.stringify(steps));
  return {
    scriptPath,
    recordPath,
    env: { FAKE_GOOSE_SCRIPT: scriptPath, FAKE_GOOSE_RECORD: recordPath },
    async readRecord() {
      try {
        return JSON.parse(await readFile(recordPath, 'utf8')) as FakeGooseRecord;
      } catch {
        return undefined;
      }
    },
  };
}
