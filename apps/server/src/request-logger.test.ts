import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './log.ts';
import { lazyChildLogger } from './logger.ts';

function collect() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  return { lines, stream };
}

describe('request logger', () => {
  it('binds the request id to the lines it writes and skips levels the logger leaves out', () => {
    const { lines, stream } = collect();
    const log = lazyChildLogger(createLogger({ LOG_LEVEL: 'info' }, stream), { reqId: 'r-1' }, {});
    log.debug('not written');
    log.info({ n: 1 }, 'written');
    log.child({ part: 'x' }).warn('from a child');
    expect(lines.map((l) => [l.msg, l.reqId])).toEqual([
      ['written', 'r-1'],
      ['from a child', 'r-1'],
    ]);
    expect(lines[0]?.n).toBe(1);
    expect(lines[1]?.part).toBe('x');
  });

  it("follows a route's own log level", () => {
    const { lines, stream } = collect();
    const parent = createLogger({ LOG_LEVEL: 'info' }, stream);
    lazyChildLogger(parent, { reqId: 'r-2' }, { level: 'debug' }).debug('route debug');
    lazyChildLogger(parent, { reqId: 'r-3' }, { level: 'warn' }).info('quiet route');
    expect(lines.map((l) => l.msg)).toEqual(['route debug']);
  });
});
