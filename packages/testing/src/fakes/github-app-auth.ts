import { createHmac, createSign, generateKeyPairSync, verify } from 'node:crypto';

export interface FakeGitHubAppConfig {
  id: number;
  publicKeyPem: string;
  installationId: number;
}

/**
 * An RSA-2048 key pair like a GitHub App's. The private key is PKCS#1
 * (`BEGIN RSA PRIVATE KEY`), the format github.com hands out, so code under test
 * goes through the same key parsing as with a real app.
 */
export function makeAppKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  return { privateKeyPem: privateKey, publicKeyPem: publicKey };
}

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/**
 * An app JWT as GitHub documents it (RS256, `iss` = app id, `iat` 60 s in the past,
 * `exp` 10 min later); `iat`/`exp` overrides (seconds since epoch) make broken ones.
 */
export function signAppJwt(
  appId: number | string,
  privateKeyPem: string,
  claims: { iat?: number; exp?: number } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const iat = claims.iat ?? now - 60;
  const payload = { iat, exp: claims.exp ?? iat + 600, iss: appId };
  const signingInput = `${b64url({ alg: 'RS256', typ: 'JWT' })}.${b64url(payload)}`;
  const signature = createSign('RSA-SHA256').update(signingInput).sign(privateKeyPem).toString('base64url');
  return `${signingInput}.${signature}`;
}

export function looksLikeJwt(token: string): boolean {
  return /^eyJ[\w-]*\.[\w-]+\.[\w-]+$/.test(token);
}

/** GitHub allows a minute of clock drift and JWTs of at most ten minutes. */
const DRIFT_S = 60;
const MAX_LIFETIME_S = 600;

/** Checks an app JWT the way GitHub does; the error text is what GitHub answers with 401. */
export function verifyAppJwt(
  token: string,
  app: FakeGitHubAppConfig | undefined,
): { ok: true } | { ok: false; message: string } {
  const undecodable = { ok: false as const, message: 'A JSON web token could not be decoded' };
  const [header, payload, signature] = token.split('.');
  if (!app || !header || !payload || !signature) return undecodable;
  let claims: { alg?: unknown; iat?: unknown; exp?: unknown; iss?: unknown };
  try {
    const head = JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg?: unknown };
    if (head.alg !== 'RS256') return undecodable;
    claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undecodable;
  }
  const signed = verify(
    'RSA-SHA256',
    Buffer.from(`${header}.${payload}`),
    app.publicKeyPem,
    Buffer.from(signature, 'base64url'),
  );
  if (!signed) return undecodable;
  const now = Math.floor(Date.now() / 1000);
  const { iat, exp, iss } = claims;
  if (typeof iat !== 'number' || iat > now + DRIFT_S) {
    return {
      ok: false,
      message: "'Issued at' claim ('iat') must be an Integer representing a time in the past.",
    };
  }
  if (typeof exp !== 'number' || exp <= now - DRIFT_S) {
    return {
      ok: false,
      message:
        "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires.",
    };
  }
  if (exp - iat > MAX_LIFETIME_S + DRIFT_S || exp > now + MAX_LIFETIME_S + DRIFT_S) {
    return { ok: false, message: "'Expiration time' claim ('exp') is too far in the future." };
  }
  if (String(iss) !== String(app.id)) return { ok: false, message: 'Integration not found' };
  return { ok: true };
}

/** The `X-Hub-Signature-256` value GitHub sends: HMAC-SHA256 of the raw body. */
export function signWebhook(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** The headers GitHub's webhook deliveries carry for `event` (e.g. `pull_request_review`). */
export function webhookHeaders(
  event: string,
  delivery: string,
  secret: string,
  body: string,
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'user-agent': 'GitHub-Hookshot/fake0001',
    'x-github-event': event,
    'x-github-delivery': delivery,
    'x-github-hook-id': '1',
    'x-hub-signature': `sha1=${createHmac('sha1', secret).update(body).digest('hex')}`,
    'x-hub-signature-256': signWebhook(secret, body),
  };
}
