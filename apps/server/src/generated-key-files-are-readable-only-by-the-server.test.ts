import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '@ccl/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadAuditSigner } from './audit-key.ts';
import { loadSecretsKeyring } from './secrets-key.ts';

let dataDir: string;
beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'ccl-keys-'));
});
afterAll(() => rm(dataDir, { recursive: true, force: true }));

const mode = async (file: string) => (await stat(join(dataDir, file))).mode & 0o777;

describe('keys generated on the embedded setup', () => {
  it('are written mode 0600, and a copy restored too loosely is tightened at start', async () => {
    const config = loadConfig({ DATA_DIR: dataDir });
    await loadAuditSigner(config, true);
    await loadSecretsKeyring(config, true);
    expect(await mode('audit-hmac.key')).toBe(0o600);
    expect(await mode('secrets.key')).toBe(0o600);

    await chmod(join(dataDir, 'audit-hmac.key'), 0o644);
    await chmod(join(dataDir, 'secrets.key'), 0o644);
    await loadAuditSigner(config, true);
    await loadSecretsKeyring(config, true);
    expect(await mode('audit-hmac.key')).toBe(0o600);
    expect(await mode('secrets.key')).toBe(0o600);
  });
});
