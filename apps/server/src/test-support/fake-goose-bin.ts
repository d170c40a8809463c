import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FakeGooseScript, fakeGoosePath } from '@ccl/testing';

/** Single-quotes a value for /bin/sh. */
const sh = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;

/**
 * The catalog starts GooseRunner with only `{ bin }`, and the runner gives goose
 * nothing of the server's environment but PATH and HOME. So the fake's script and
 * record paths travel inside a tiny `goose` wrapper that exports them and execs the
 * fake (exec keeps the pid, so the recorded pid is the process group the runner made).
 */
export async function fakeGooseBin(script: FakeGooseScript): Promise<{ bin: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'ccl-goose-bin-'));
  const bin = join(dir, 'goose');
  await writeFile(
    bin,
    [
      '#!/bin/sh',
      `export FAKE_GOOSE_SCRIPT=${sh(script.scriptPath)}`,
      `export FAKE_GOOSE_RECORD=${sh(script.recordPath)}`,
      `exec ${sh(process.execPath)} ${sh(fakeGoosePath())} "$@"`,
      '',
    ].join('\n'),
  );
  await chmod(bin, 0o755);
  return { bin, dir };
}
