import { randomBytes } from 'node:crypto';

export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/**
 * A prefix no other test run uses, for Redis keys and queue names, e.g.
 * `queue-3f9a1c2b7d4e`. Only [a-z0-9-], which every queue backend accepts.
 */
export function uniquePrefix(label: string): string {
  const safe = label.toLowerCase().replaceAll(/[^a-z0-9]+/g, '-');
  return `${safe}-${randomBytes(6).toString('hex')}`;
}
