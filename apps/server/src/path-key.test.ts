import { describe, expect, it } from 'vitest';
import { canonicalSplit, splitKeyPath, stripPathKey } from './path-key.ts';

/** Pieces a path is built from: separators, dots, escapes and spellings of the `k` segment. */
const PIECES = [
  '/',
  '/',
  '/',
  'k',
  'K',
  '.',
  '..',
  '%2F',
  '%2f',
  '%5C',
  '%6B',
  '%6b',
  '%2E',
  '\\',
  'a',
  'ccd_s3cr3t',
  'api',
  '%',
  '%zz',
];

/** A deterministic pseudo-random sequence (mulberry32), so a failure names a path that fails again. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('the key of a /k/<key>/ base URL', () => {
  it('the quick reading of plainly spelled paths agrees with the canonical one on 200,000 paths', () => {
    const next = random(16);
    for (let i = 0; i < 200_000; i++) {
      const length = 1 + Math.floor(next() * 9);
      let path = next() < 0.9 ? '/' : '';
      for (let j = 0; j < length; j++) path += PIECES[Math.floor(next() * PIECES.length)];
      expect(splitKeyPath(path), path).toEqual(canonicalSplit(path));
    }
  });

  it('reads the plain spelling and strips the key from the URL', () => {
    expect(splitKeyPath('/k/ccd_abc/api/runtime/tasks/7/state')).toEqual({
      key: 'ccd_abc',
      rest: 'api/runtime/tasks/7/state',
    });
    expect(splitKeyPath('/api/runtime/tasks/7/state')).toBeNull();
    const req = { url: '/K/ccd_abc/api/x?session_id=1' } as Parameters<typeof stripPathKey>[0];
    expect(stripPathKey(req)).toBe('/api/x?session_id=1');
  });
});
