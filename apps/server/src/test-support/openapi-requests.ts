import fc from 'fast-check';
import {
  encodeAll,
  garbageQuery,
  garbageSegment,
  type Hints,
  type JsonSchema,
  mutatedBody,
  nastyString,
  validValue,
  withHint,
} from './openapi-arbitraries.ts';
import type { Json } from './test-server.ts';

/** Requests for one OpenAPI operation: valid ones, and ones wrong in their path, query, body or content type. */

export interface Param {
  in: 'path' | 'query';
  name: string;
  required: boolean;
  schema: JsonSchema;
}
export interface Operation {
  key: string;
  method: string;
  path: string;
  params: Param[];
  body: JsonSchema | undefined;
  /** text/event-stream routes never end: only requests their validation refuses are sent. */
  streaming: boolean;
}
export interface Req {
  caller: string;
  /** Which part of the request was made wrong on purpose, if any. */
  mode: string;
  url: string;
  body: string | undefined;
  contentType: string | undefined;
}

export function operationsOf(doc: Json): Operation[] {
  const ops: Operation[] = [];
  for (const [path, methods] of Object.entries<Json>(doc.paths)) {
    for (const [method, op] of Object.entries<Json>(methods)) {
      const streaming = /text\/event-stream/.test(op.summary ?? '') || /^stream/.test(op.operationId ?? '');
      ops.push({
        key: `${method.toUpperCase()} ${path}`,
        method: method.toUpperCase(),
        path,
        params: (op.parameters ?? []).filter((p: Param) => p.in === 'path' || p.in === 'query'),
        body: op.requestBody?.content?.['application/json']?.schema,
        streaming,
      });
    }
  }
  return ops;
}

export const safeEncode = (v: unknown) => {
  try {
    return encodeURIComponent(String(v));
  } catch {
    return encodeAll(String(v));
  }
};
const toQuery = (pairs: Array<[string, string]>) => pairs.map(([k, v]) => `${safeEncode(k)}=${v}`).join('&');
export const fill = (path: string, values: string[]) => {
  let i = 0;
  return path.replace(/\{[^}]+\}/g, () => values[i++] ?? '');
};
/** Stable per route, so adding a route does not change the inputs of the others. */
export const routeSeed = (seed: number, key: string) =>
  [...key].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16_777_619), seed) | 0;

export function requestArb(
  op: Operation,
  callers: string[],
  hints: Hints,
  pathHints: Hints,
  extraKeys: string[],
): fc.Arbitrary<Req> {
  const pathParams = op.params.filter((p) => p.in === 'path');
  const queryParams = op.params.filter((p) => p.in === 'query');
  const caller = fc.constantFrom(...callers);
  const segment = (p: Param) => withHint(p.name, validValue(p.schema), pathHints).map(safeEncode);
  const validSegments = fc.tuple(...pathParams.map(segment));
  if (op.streaming) {
    // '~' fits no id, slug or name we have, so validation answers before the stream would open.
    const refused = fc.tuple(
      ...pathParams.map(() => fc.string({ maxLength: 20 }).map((s) => `~${safeEncode(s)}`)),
    );
    return fc
      .record({ caller, segments: refused, after: fc.constantFrom('', 'after=-1', 'after=x') })
      .map((r) => ({
        caller: r.caller,
        mode: 'path',
        url: `${fill(op.path, r.segments)}?${r.after}`,
        body: undefined,
        contentType: undefined,
      }));
  }
  const anySegments = fc.tuple(
    ...pathParams.map((p) => fc.oneof(garbageSegment, fc.constant(''), segment(p))),
  );
  const queryModel = Object.fromEntries(
    queryParams.map((p) => [p.name, withHint(p.name, validValue(p.schema), hints).map(safeEncode)]),
  );
  const validQuery = fc
    .record(queryModel, { requiredKeys: queryParams.filter((p) => p.required).map((p) => p.name) })
    .map((q) => Object.entries(q) as Array<[string, string]>);
  const badQuery = fc.oneof(
    fc
      .tuple(validQuery, fc.constantFrom('x', ...queryParams.map((p) => p.name)), nastyString)
      .map(([q, k, v]) => toQuery([...q.filter(([x]) => x !== k), [k, encodeAll(v)]])),
    fc
      .tuple(validQuery, fc.constantFrom('__proto__', 'constructor', 'toString', ...extraKeys))
      .map(([q, k]) => toQuery([...q, [k, '1'], [k, '2']])),
    fc
      .tuple(validQuery, fc.constantFrom('-1', '0', 'abc', '1e999', 'true', '[]', '%00'))
      .map(([q, v]) => toQuery(q.map(([k]) => [k, v]))),
    garbageQuery,
  );
  const hasBody = op.body !== undefined;
  const validBody = hasBody
    ? validValue(op.body as JsonSchema, hints).map((b) => JSON.stringify(b))
    : fc.constant(undefined);
  const badBody = hasBody ? mutatedBody(op.body as JsonSchema, hints, extraKeys) : validBody;
  const mode = fc.constantFrom(
    'valid',
    'valid',
    ...(pathParams.length ? ['path'] : []),
    ...(queryParams.length ? ['query'] : []),
    ...(hasBody ? ['body', 'body', 'content-type'] : []),
  );
  return fc
    .record({
      caller,
      mode,
      good: validSegments,
      bad: anySegments,
      vq: validQuery,
      bq: badQuery,
      vb: validBody,
      bb: badBody,
      ct: fc.constantFrom(
        'text/plain',
        'application/x-www-form-urlencoded',
        'application/json; charset=utf-16',
        '',
      ),
    })
    .map((r) => {
      const segments = r.mode === 'path' ? r.bad : r.good;
      const query = r.mode === 'query' ? r.bq : toQuery(r.vq);
      const body = r.mode === 'body' ? r.bb : r.vb;
      const contentType =
        body === undefined ? undefined : r.mode === 'content-type' ? r.ct : 'application/json';
      return {
        caller: r.caller,
        mode: r.mode,
        url: `${fill(op.path, segments)}${query ? `?${query}` : ''}`,
        body,
        contentType,
      };
    });
}
