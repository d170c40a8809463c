import { describe, expect, it } from 'vitest';
import { storableJson, storableText } from './storable.ts';

describe('storable text', () => {
  it('replaces what PostgreSQL refuses and keeps the rest', () => {
    expect(storableText('a\u0000b')).toBe('a\uFFFDb');
    expect(storableText('x\uD800y')).toBe('x\uFFFDy');
    expect(storableText('ok 😀')).toBe('ok 😀');
    expect(storableJson({ out: ['\u0000', { 'k\u0000': 1 }], n: 2, b: null })).toEqual({
      out: ['\uFFFD', { 'k\uFFFD': 1 }],
      n: 2,
      b: null,
    });
  });
});
