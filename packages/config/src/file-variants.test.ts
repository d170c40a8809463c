import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { FILE_VARIANTS, loadConfig } from './index.ts';

const dir = mkdtempSync(join(tmpdir(), 'ccl-config-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function secretFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content, { mode: 0o600 });
  return path;
}

describe('keys from files (*_FILE), so they need not sit in the server environment', () => {
  it('reads each variable from its file, without the trailing newline', () => {
    const key = 'k'.repeat(40);
    const config = loadConfig({
      AUDIT_HMAC_KEY_FILE: secretFile('audit', `${key}\n`),
      ANTHROPIC_API_KEY_FILE: secretFile('anthropic', 'sk-ant-from-file\r\n'),
      DATABASE_URL_FILE: secretFile('db', 'postgresql://u:p@127.0.0.1:5432/x\n'),
    });
    expect(config.AUDIT_HMAC_KEY).toBe(key);
    expect(config.ANTHROPIC_API_KEY).toBe('sk-ant-from-file');
    expect(config.DATABASE_URL).toBe('postgresql://u:p@127.0.0.1:5432/x');
  });

  it('validates a value read from a file like any other', () => {
    expect(() => loadConfig({ AUDIT_HMAC_KEY_FILE: secretFile('short', 'too-short\n') })).toThrow(
      /AUDIT_HMAC_KEY: must be at least 32 characters/,
    );
  });

  it('names the variable when its file cannot be read', () => {
    expect(() => loadConfig({ SECRETS_KEY_FILE: join(dir, 'missing') })).toThrow(
      `invalid configuration:\n  SECRETS_KEY_FILE: cannot read ${join(dir, 'missing')} (ENOENT)`,
    );
  });

  it('refuses both the variable and its file', () => {
    expect(() =>
      loadConfig({ OPENAI_API_KEY: 'sk-env', OPENAI_API_KEY_FILE: secretFile('openai', 'sk-file') }),
    ).toThrow('OPENAI_API_KEY_FILE: set either OPENAI_API_KEY or OPENAI_API_KEY_FILE, not both');
  });

  it('documents every *_FILE variant in .env.example and docs/configuration.md', () => {
    const root = (file: string) =>
      readFileSync(fileURLToPath(new URL(`../../../${file}`, import.meta.url)), 'utf8');
    for (const name of FILE_VARIANTS) {
      expect(root('.env.example'), name).toMatch(new RegExp(`^# ${name}_FILE=`, 'm'));
      expect(root('docs/configuration.md'), name).toContain(`\`${name}_FILE\``);
    }
  });
});
