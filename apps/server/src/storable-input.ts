import { Invalid } from '@ccl/core';
import type { FastifyInstance } from 'fastify';

/** Deeper than any real context or settings object; jsonb and JSON.stringify recurse per level. */
export const MAX_INPUT_DEPTH = 64;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const unstorableText = (text: string) => text.includes('\u0000') || LONE_SURROGATE.test(text);

const clip = (text: string, max: number) => (text.length > max ? `${text.slice(0, max)}…` : text);

/**
 * What in `value` PostgreSQL could not store, or null. It keeps U+0000 in neither text
 * nor jsonb and unpaired surrogates not in jsonb, and deep nesting overflows the stack
 * on the way there. Iterative, so the walk itself cannot overflow.
 */
export function unstorable(value: unknown, where: string): string | null {
  const stack: Array<[unknown, string, number]> = [[value, where, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [v, path, depth] = item;
    if (typeof v === 'string') {
      if (unstorableText(v))
        return `${clip(path, 60)}: text must not contain NUL characters or unpaired surrogates`;
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth >= MAX_INPUT_DEPTH) return `${clip(path, 60)}: nested more than ${MAX_INPUT_DEPTH} levels deep`;
    for (const key of Object.keys(v)) {
      if (unstorableText(key))
        return `${clip(path, 60)}: keys must not contain NUL characters or unpaired surrogates`;
      const child = (v as Record<string, unknown>)[key];
      // Text leaves are checked here, so the common case builds no path string.
      if (typeof child === 'string') {
        if (unstorableText(child))
          return `${clip(`${path}.${clip(key, 40)}`, 60)}: text must not contain NUL characters or unpaired surrogates`;
      } else if (child !== null && typeof child === 'object') {
        stack.push([child, `${path}.${clip(key, 40)}`, depth + 1]);
      }
    }
  }
  return null;
}

/**
 * Refuses unstorable input with 400 before any route runs: otherwise it fails deep in a
 * use case as a 500, possibly after part of the work was written.
 */
export function registerStorableInput(app: FastifyInstance): void {
  app.addHook('preValidation', (request, _reply, done) => {
    const problem =
      unstorable(request.params, 'params') ??
      unstorable(request.query, 'querystring') ??
      unstorable(request.body, 'body');
    done(problem ? new Invalid(problem) : undefined);
  });
}
