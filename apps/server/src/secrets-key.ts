import { randomBytes } from 'node:crypto';
import { chmod, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '@ccl/config';
import { type Keyring, makeKeyring, parseKey } from '@ccl/core';

/**
 * The key that encrypts project secrets. SECRETS_KEY (with SECRETS_KEY_ID) when set;
 * on the embedded single-machine setup a key generated once into DATA_DIR, outside the
 * database; otherwise none, and the server refuses to store secrets (saying why).
 */
export async function loadSecretsKeyring(config: Config, embedded: boolean): Promise<Keyring | undefined> {
  const old = config.SECRETS_OLD_KEYS.map((entry) => {
    const at = entry.indexOf(':');
    if (at < 1) throw new Error('SECRETS_OLD_KEYS entries look like <key id>:<base64 key>');
    return {
      id: entry.slice(0, at),
      key: parseKey(entry.slice(at + 1), `SECRETS_OLD_KEYS (${entry.slice(0, at)})`),
    };
  });
  if (config.SECRETS_KEY) {
    return makeKeyring({ id: config.SECRETS_KEY_ID, key: parseKey(config.SECRETS_KEY, 'SECRETS_KEY') }, old);
  }
  if (!embedded) return undefined;
  const file = join(config.dataDir, 'secrets.key');
  let raw: string;
  try {
    raw = await readFile(file, 'utf8');
    // Whoever reads the key reads every project secret; tighten a copy restored too loosely.
    if ((await stat(file)).mode & 0o077) await chmod(file, 0o600);
  } catch {
    raw = randomBytes(32).toString('base64');
    // wx: two processes starting at once must not overwrite each other's key.
    await writeFile(file, `${raw}\n`, { mode: 0o600, flag: 'wx' }).catch(async () => {
      raw = await readFile(file, 'utf8');
    });
  }
  return makeKeyring({ id: 'local', key: parseKey(raw, file) }, old);
}
