import fc from 'fast-check';

/** The subset of JSON Schema (OpenAPI 3.0 dialect) that our zod contracts produce. */
export interface JsonSchema {
  type?: string | string[];
  nullable?: boolean;
  enum?: unknown[];
  const?: unknown;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  /** OpenAPI 3.0 says `true` (with minimum); JSON Schema 2020 gives the bound itself. */
  exclusiveMinimum?: boolean | number;
  exclusiveMaximum?: boolean | number;
}

/** Real values to mix into generated ones, by property or parameter name (session ids, slugs…). */
export type Hints = Record<string, fc.Arbitrary<unknown>>;

const INT32 = 2 ** 31 - 1;
const isoDate = fc
  .date({ min: new Date('1970-01-01T00:00:00Z'), max: new Date('2200-01-01T00:00:00Z'), noInvalidDate: true })
  .map((d) => d.toISOString());

function stringValue(s: JsonSchema): fc.Arbitrary<string> {
  if (s.format === 'uuid') return fc.uuid({ version: 4 });
  if (s.format === 'date-time') return isoDate;
  const min = s.minLength ?? 0;
  const max = Math.min(s.maxLength ?? min + 40, min + 40);
  if (s.pattern) {
    return fc
      .stringMatching(new RegExp(s.pattern))
      .filter((v) => v.length >= min && v.length <= (s.maxLength ?? Number.POSITIVE_INFINITY));
  }
  return fc.oneof(
    fc.string({ minLength: min, maxLength: max, unit: 'grapheme-ascii' }),
    fc.string({ minLength: min, maxLength: max, unit: 'grapheme' }),
  );
}

function numberValue(s: JsonSchema, integer: boolean): fc.Arbitrary<number> {
  const lowExcl = s.exclusiveMinimum === true || typeof s.exclusiveMinimum === 'number';
  const highExcl = s.exclusiveMaximum === true || typeof s.exclusiveMaximum === 'number';
  const low = typeof s.exclusiveMinimum === 'number' ? s.exclusiveMinimum : (s.minimum ?? -1e6);
  const high = typeof s.exclusiveMaximum === 'number' ? s.exclusiveMaximum : (s.maximum ?? 1e6);
  if (integer) {
    // fc.integer works on 32-bit ints; our bounds beyond that only mean "any safe integer".
    const min = Math.max(Math.ceil(lowExcl ? low + 1 : low), -INT32);
    const max = Math.min(Math.floor(highExcl ? high - 1 : high), INT32);
    return fc.integer({ min, max });
  }
  return fc.double({
    min: low,
    max: high,
    minExcluded: lowExcl,
    maxExcluded: highExcl,
    noNaN: true,
    noDefaultInfinity: true,
  });
}

function objectValue(s: JsonSchema, hints: Hints): fc.Arbitrary<Record<string, unknown>> {
  const props = s.properties ?? {};
  const model: Record<string, fc.Arbitrary<unknown>> = {};
  for (const [name, sub] of Object.entries(props))
    model[name] = withHint(name, validValue(sub, hints), hints);
  const base = fc.record(model, { requiredKeys: (s.required ?? []).filter((k) => k in props) });
  if (typeof s.additionalProperties !== 'object') return base;
  // A catch-all object (e.g. a task's context metadata) also takes keys we never declared.
  const extra = fc.dictionary(
    fc.string({ minLength: 1, maxLength: 12 }).filter((k) => !(k in props)),
    fc.jsonValue({ maxDepth: 2 }),
    { maxKeys: 3 },
  );
  return fc
    .tuple(base, extra)
    .map(([b, e]) => Object.fromEntries([...Object.entries(e), ...Object.entries(b)]));
}

/** Values the schema accepts (as far as JSON Schema can say; zod refinements may still refuse some). */
export function validValue(s: JsonSchema, hints: Hints = {}): fc.Arbitrary<unknown> {
  const inner = ((): fc.Arbitrary<unknown> => {
    if (s.const !== undefined) return fc.constant(s.const);
    if (s.enum) return fc.constantFrom(...s.enum);
    const alternatives = s.anyOf ?? s.oneOf;
    if (alternatives) return fc.oneof(...alternatives.map((a) => validValue(a, hints)));
    if (s.allOf?.length === 1 && s.allOf[0]) return validValue(s.allOf[0], hints);
    const type = Array.isArray(s.type) ? s.type.find((t) => t !== 'null') : s.type;
    switch (type) {
      case 'string':
        return stringValue(s);
      case 'integer':
        return numberValue(s, true);
      case 'number':
        return numberValue(s, false);
      case 'boolean':
        return fc.boolean();
      case 'array':
        return fc.array(s.items ? validValue(s.items, hints) : fc.jsonValue({ maxDepth: 1 }), {
          minLength: s.minItems ?? 0,
          maxLength: Math.min(s.maxItems ?? 5, 5),
        });
      case 'object':
        return objectValue(s, hints);
      default:
        return fc.jsonValue({ maxDepth: 2 });
    }
  })();
  const nullable = s.nullable || (Array.isArray(s.type) && s.type.includes('null'));
  return nullable ? fc.option(inner, { nil: null, freq: 5 }) : inner;
}

export function withHint<T>(name: string, arb: fc.Arbitrary<T>, hints: Hints): fc.Arbitrary<T | unknown> {
  const hint = hints[name];
  return hint ? fc.oneof(hint, arb) : arb;
}

/** Keys that have broken JavaScript servers before: prototype pollution and friends. */
export const NASTY_KEYS = [
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  '$where',
];

/** Strings PostgreSQL cannot store as sent: NUL in text and jsonb, unpaired surrogates in jsonb. */
export const unstorableString: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('\u0000', 'a\u0000b', '\ud800', 'x\udfff', '\udfff\ud800'),
  fc
    .tuple(fc.string({ maxLength: 8 }), fc.constantFrom('\u0000', '\ud83d'), fc.string({ maxLength: 8 }))
    .map((p) => p.join('')),
);

/** Strings that go wrong in storage, logs or parsers: NUL, lone surrogates, RTL marks, SQL, huge. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  unstorableString,
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    '\udfff\ud800',
    '\u202e\u0041',
    '💥'.repeat(50),
    "'; DROP TABLE tasks; --",
    '<script>alert(1)</script>',
    '../../../../etc/passwd',
    '%00',
    '{{7*7}}',
    ' ',
    '\n\r\t',
  ),
  fc.integer({ min: 1, max: 3 }).map((n) => 'x'.repeat(10 ** (n + 3))),
);

/** Any JSON value at all, biased to the awkward ones. */
export const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -0, '', [], {}),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  nastyString,
  fc.jsonValue({ maxDepth: 3 }),
);

/** An object whose own keys may be `__proto__` and the like (JSON.stringify keeps own keys). */
export function ownKeys(entries: Array<[string, unknown]>): Record<string, unknown> {
  return Object.fromEntries(entries);
}

/** A value nested `depth` levels deep, as raw JSON (building it as an object would overflow our own stack). */
export const deepJson = (depth: number, open = '[', close = ']') =>
  `${open.repeat(depth)}${close === '}' ? '' : '1'}${close.repeat(depth)}`;

const DEEP = fc.constantFrom(64, 2_000, 100_000);

/**
 * A body that is likely wrong: a valid one with one property mistyped, missing, oversized
 * or nasty, extra or prototype keys, deep nesting, or something that is not our JSON at all.
 * Returned as the raw text to send.
 */
export function mutatedBody(s: JsonSchema, hints: Hints, extraKeys: string[]): fc.Arbitrary<string> {
  const props = Object.keys(s.properties ?? {});
  const valid = validValue(s, hints).map((v) =>
    v && typeof v === 'object' ? (v as Record<string, unknown>) : {},
  );
  const key = props.length ? fc.constantFrom(...props) : fc.constant('x');
  // Right types, wrong contents: every string becomes one that storage, logs or parsers choke on.
  const nastyContents = fc
    .tuple(valid, nastyString)
    .map(([v, bad]) =>
      JSON.stringify(
        Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? bad : x])),
      ),
    );
  const objectMutation = fc.oneof(
    { weight: 3, arbitrary: nastyContents },
    fc.tuple(valid, key, anyJson).map(([v, k, bad]) => JSON.stringify({ ...v, [k]: bad })),
    fc.tuple(valid, key).map(([v, k]) => {
      const copy = { ...v };
      delete copy[k];
      return JSON.stringify(copy);
    }),
    fc
      .tuple(valid, fc.constantFrom(...NASTY_KEYS, ...extraKeys), anyJson)
      .map(([v, k, bad]) => JSON.stringify(ownKeys([...Object.entries(v), [k, bad]]))),
    fc
      .tuple(valid, fc.constantFrom('__proto__', 'constructor'))
      .map(([v, k]) =>
        JSON.stringify(ownKeys([...Object.entries(v), [k, { isAdmin: true, prototype: { x: 1 } }]])),
      ),
    fc.tuple(valid, key, DEEP).map(([v, k, depth]) => {
      const text = JSON.stringify({ ...v, [k]: 0 });
      return text.replace(`${JSON.stringify(k)}:0`, `${JSON.stringify(k)}:${deepJson(depth)}`);
    }),
  );
  const notOurs = fc.oneof(
    anyJson.map((v) => JSON.stringify(v)),
    fc.constantFrom('{', '[1,2]', 'null', '"str"', '{"a":1}{', '{"a":', '\u0000', '{"__proto__":{"x":1}}'),
    DEEP.map((d) => deepJson(d, '{"a":', '}')),
    fc.constant(`{"x":"${'y'.repeat(1_100_000)}"}`),
  );
  return fc.oneof({ weight: 4, arbitrary: objectMutation }, { weight: 1, arbitrary: notOurs });
}

/** Percent-encodes every byte, so lone surrogates and NUL reach the server as sent. */
export function encodeAll(value: string): string {
  return [...Buffer.from(value, 'utf8')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

/** Path segments that are wrong in every way we could think of. */
export const garbageSegment: fc.Arbitrary<string> = fc.oneof(
  nastyString.map(encodeAll),
  fc.constantFrom('..', '%2e%2e', '%2F', '%00', '%FF', '%C0%AF', 'null', 'undefined', '0', '-1', '__proto__'),
  fc.string({ minLength: 1, maxLength: 60 }).map(encodeAll),
);

/** Raw query strings no schema expects. */
export const garbageQuery: fc.Arbitrary<string> = fc.constantFrom(
  '%',
  '%zz=1',
  'a=%FF',
  'a=%C0%AF',
  '&&&',
  '=',
  'a[b]=c',
  '__proto__[x]=1',
  'constructor[prototype][x]=1',
  `x=${'y'.repeat(100_000)}`,
);
