import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const skip = process.env.SKIP_E2E_CLONE === '1';
if (skip) console.log('e2e-fresh-clone: skipped because SKIP_E2E_CLONE=1');

function runE2e(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['scripts/e2e-fresh-clone.mjs'], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('a fresh clone', () => {
  it.skipIf(skip)(
    'installs and serves the CoderClaw contract with `npm start`, stops on Ctrl-C and keeps its data',
    async () => {
      const { code, output } = await runE2e();
      if (code !== 0) console.error(output);
      expect(code, 'scripts/e2e-fresh-clone.mjs failed; its output is printed above').toBe(0);
    },
    600_000,
  );
});
