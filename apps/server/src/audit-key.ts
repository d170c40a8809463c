import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Config, ConfigError } from '@ccl/config';
import { type AuditSigner, makeAuditSigner } from '@ccl/core';

/**
 * The key of the audit hash chain: AUDIT_HMAC_KEY when set; on the embedded single-machine setup
 * a key generated once into DATA_DIR (mode 0600), outside the database. loadConfig already refuses
 * DATABASE_URL without AUDIT_HMAC_KEY; the check here keeps that true for any other caller.
 */
export async function loadAuditSigner(config: Config, embedded: boolean): Promise<AuditSigner> {
  if (config.AUDIT_HMAC_KEY) return makeAuditSigner(config.AUDIT_HMAC_KEY);
  if (!embedded) throw new ConfigError('AUDIT_HMAC_KEY: required when DATABASE_URL is set');
  await mkdir(config.dataDir, { recursive: true });
  const file = join(config.dataDir, 'audit-hmac.key');
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
    // A key readable by others would let them forge rows; tighten a copy restored too loosely.
    if ((await stat(file)).mode & 0o077) await chmod(file, 0o600);
  } catch {
    raw = randomBytes(32).toString('base64');
    // wx: two processes starting at once must not overwrite each other's key.
    await writeFile(file, `${raw}\n`, { mode: 0o600, flag: 'wx' }).catch(async () => {
      raw = await readFile(file, 'utf8');
    });
  }
  return makeAuditSigner(raw.trim());
}
