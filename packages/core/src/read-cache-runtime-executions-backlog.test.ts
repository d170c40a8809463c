import { describe, expect, it } from 'vitest';
import { type CachedRuntimeExecution, ReadCache } from './read-cache.ts';

/** Execution #n is `e-n` of card `t-n`; `payload` sets how much text its answer holds. */
const execution = (n: number, status = 'pending', payload = `run ${n}`) =>
  ({
    executionId: `e-${n}`,
    taskUuid: `t-${n}`,
    answer: { id: n, status, payload, result: null, errorMessage: null },
  }) as unknown as CachedRuntimeExecution;

const load = (cache: ReadCache, n: number, status?: string, payload?: string) =>
  cache.loadRuntimeExecution(n, async () => execution(n, status, payload));

describe('ReadCache: the 2026.3 poll over a backlog', () => {
  it('answers a backlog of 10,200 runs polled in turn from memory on the second round', async () => {
    const cache = new ReadCache({ taskTtlMs: 60_000 });
    for (let n = 1; n <= 10_200; n++) {
      if (!cache.runtimeExecution(n)) await load(cache, n);
    }
    let hits = 0;
    for (let n = 1; n <= 10_200; n++) if (cache.runtimeExecution(n)) hits++;
    expect(hits).toBe(10_200);
  });

  it('keeps every kept answer reachable by its change notices, however many runs were read', async () => {
    // Once the links from execution to number were all forgotten after 50,000 reads, while their
    // answers were still kept: a change then left the answer stale until its TTL.
    const cache = new ReadCache({ taskTtlMs: 60_000, runtimeMax: 60_000 });
    for (let n = 1; n <= 55_000; n++) await load(cache, n);
    for (const n of [49_999, 50_000, 55_000, 1]) {
      expect(cache.runtimeExecution(n)).toBeDefined();
      cache.taskChanged(`t-${n}`, `e-${n}`);
      expect(cache.runtimeExecution(n)).toBeUndefined();
    }
  });

  it('lets the answers kept longest ago go first when full, a re-read counting as new', async () => {
    const cache = new ReadCache({ taskTtlMs: 60_000, runtimeMax: 3 });
    for (const n of [1, 2, 3]) await load(cache, n);
    cache.taskChanged('t-1', 'e-1');
    await load(cache, 1, 'running');
    await load(cache, 4);
    expect(cache.runtimeExecution(2)).toBeUndefined();
    expect(cache.runtimeExecution(1)?.answer.status).toBe('running');
    expect(cache.runtimeExecution(3)).toBeDefined();
    expect(cache.runtimeExecution(4)).toBeDefined();
  });

  it('bounds the text kept, not only the number of answers', async () => {
    const cache = new ReadCache({ taskTtlMs: 60_000, runtimeMaxChars: 1_000 });
    for (const n of [1, 2, 3]) await load(cache, n, 'pending', 'x'.repeat(300));
    expect(cache.runtimeExecution(1)).toBeDefined();
    await load(cache, 4, 'pending', 'y'.repeat(500));
    expect(cache.runtimeExecution(1)).toBeUndefined();
    expect(cache.runtimeExecution(2)).toBeUndefined();
    expect(cache.runtimeExecution(3)).toBeDefined();
    expect(cache.runtimeExecution(4)).toBeDefined();
  });
});
