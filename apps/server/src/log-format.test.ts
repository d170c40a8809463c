import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const LOG = fileURLToPath(new URL('./log.ts', import.meta.url));

/** stdout of a process that logs one line through createProcessLogger, as `start` does. */
function logOnce(format: string, isTTY?: boolean): string {
  const script = `
    const { createProcessLogger } = await import(${JSON.stringify(LOG)});
    const log = await createProcessLogger({ LOG_LEVEL: 'info', LOG_FORMAT: ${JSON.stringify(format)} }${isTTY === undefined ? '' : `, ${isTTY}`});
    log.info({ token: 'sekret-token', port: 8000 }, 'clawlink started');
  `;
  const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    encoding: 'utf8',
  });
  expect(res.status, res.stderr).toBe(0);
  return res.stdout;
}

describe('the process log format', () => {
  it('writes readable lines at a terminal, with secrets still redacted', () => {
    const out = logOnce('auto', true);
    expect(out).toMatch(/INFO.*clawlink started/);
    expect(out).toMatch(/port.*8000/);
    expect(out).not.toMatch(/^\{/m);
    expect(out).not.toContain('sekret-token');
  });

  it('writes JSON when stdout is not a terminal, and always with LOG_FORMAT=json', () => {
    for (const out of [logOnce('auto'), logOnce('json', true)]) {
      const line = JSON.parse(out.trim());
      expect(line).toMatchObject({ msg: 'clawlink started', port: 8000, token: '[redacted]' });
    }
  });

  it('LOG_FORMAT=pretty forces readable lines without colours into a pipe', () => {
    const out = logOnce('pretty');
    expect(out).toMatch(/INFO.*clawlink started/);
    expect(out).not.toContain('\u001b[');
  });
});
