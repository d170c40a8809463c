import { timingSafeEqual } from 'node:crypto';

/** Whether a presented secret (a header, a bearer token) equals the configured one, in constant time. */
export function sameSecret(given: unknown, want: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}
