import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { verifyWebhookSignature } from './signature.ts';

const SECRET = 'webhook-secret-for-tests';
const body = Buffer.from('{"action":"opened","number":7}');
const sign = (secret: string, raw: Buffer) =>
  `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;

describe('verifyWebhookSignature', () => {
  it('accepts the HMAC-SHA256 of the raw body', () => {
    expect(verifyWebhookSignature(SECRET, body, sign(SECRET, body))).toBe(true);
  });

  it('accepts upper-case hex', () => {
    expect(
      verifyWebhookSignature(
        SECRET,
        body,
        sign(SECRET, body)
          .replace(/[a-f]/g, (c) => c.toUpperCase())
          .replace('SHA256', 'sha256'),
      ),
    ).toBe(true);
  });

  it('rejects another secret or an altered body', () => {
    expect(verifyWebhookSignature(SECRET, body, sign('another-secret', body))).toBe(false);
    const altered = Buffer.from('{"action":"opened","number":8}');
    expect(verifyWebhookSignature(SECRET, altered, sign(SECRET, body))).toBe(false);
    // The same JSON re-serialised is a different body: the check is over bytes.
    const spaced = Buffer.from('{"action": "opened", "number": 7}');
    expect(verifyWebhookSignature(SECRET, spaced, sign(SECRET, body))).toBe(false);
  });

  it('rejects missing and malformed headers without throwing', () => {
    const good = sign(SECRET, body);
    const hex = good.slice('sha256='.length);
    for (const header of [
      undefined,
      '',
      'sha256=',
      hex,
      `sha1=${hex.slice(0, 40)}`,
      `sha256=${hex.slice(0, 62)}`,
      `sha256=${hex}00`,
      `sha256=${'z'.repeat(64)}`,
      `sha256=${hex} extra`,
    ]) {
      expect(verifyWebhookSignature(SECRET, body, header), String(header)).toBe(false);
    }
  });

  it('rejects everything when the secret is empty', () => {
    expect(verifyWebhookSignature('', body, sign('', body))).toBe(false);
  });
});
