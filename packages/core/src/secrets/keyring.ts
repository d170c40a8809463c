import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/** AES-256-GCM keys by id: `current` encrypts, every key decrypts what it encrypted. */
export interface Keyring {
  current: { id: string; key: Buffer };
  byId: ReadonlyMap<string, Buffer>;
}

export interface Sealed {
  keyId: string;
  iv: Uint8Array;
  ciphertext: Uint8Array;
  tag: Uint8Array;
}

export class KeyringError extends Error {
  override name = 'KeyringError';
}

/** A key as configured: 32 bytes, base64 or hex. */
export function parseKey(raw: string, what: string): Buffer {
  const text = raw.trim();
  const key = /^[0-9a-f]{64}$/i.test(text) ? Buffer.from(text, 'hex') : Buffer.from(text, 'base64');
  if (key.length !== 32)
    throw new KeyringError(`${what} must be 32 bytes, base64 or hex (openssl rand -base64 32)`);
  return key;
}

export function makeKeyring(
  current: { id: string; key: Buffer },
  old: Array<{ id: string; key: Buffer }> = [],
) {
  const byId = new Map(old.map((k) => [k.id, k.key] as const));
  byId.set(current.id, current.key);
  return { current, byId } satisfies Keyring;
}

/** Binds a ciphertext to where it is stored, so a row copied to another project or name does not decrypt. */
const aadOf = (scope: string) => Buffer.from(scope, 'utf8');

export function seal(keyring: Keyring, scope: string, plaintext: string): Sealed {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyring.current.key, iv);
  cipher.setAAD(aadOf(scope));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { keyId: keyring.current.id, iv, ciphertext, tag: cipher.getAuthTag() };
}

export function open(keyring: Keyring, scope: string, sealed: Sealed): string {
  const key = keyring.byId.get(sealed.keyId);
  if (!key) {
    throw new KeyringError(
      `secret was encrypted with key '${sealed.keyId}', which is not configured (add it to SECRETS_OLD_KEYS)`,
    );
  }
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv);
  decipher.setAAD(aadOf(scope));
  decipher.setAuthTag(sealed.tag);
  try {
    return Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw new KeyringError('a stored secret failed its integrity check (wrong key or altered row)');
  }
}
