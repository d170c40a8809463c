import { describe, expect, it } from 'vitest';
import { type CachedRuntimeExecution, RuntimeExecutionCache } from './runtime-execution-cache.ts';

/** A load the test finishes by hand, counting how often it was started. */
function gate(value: CachedRuntimeExecution | null) {
  let starts = 0;
  const opened: Array<() => void> = [];
  return {
    load: () => {
      starts++;
      return new Promise<CachedRuntimeExecution | null>((resolve) => opened.push(() => resolve(value)));
    },
    open: () => {
      for (const resolve of opened.splice(0)) resolve();
    },
    starts: () => starts,
  };
}

const execution = (status: 'running' | 'completed') =>
  ({ executionId: 'e-7', taskUuid: 't-1', answer: { id: 7, status } }) as unknown as CachedRuntimeExecution;

describe('RuntimeExecutionCache (the 2026.3 execution poll)', () => {
  it('sends concurrent misses of one execution to the database once and keeps the answer', async () => {
    const cache = new RuntimeExecutionCache();
    const read = gate(execution('running'));
    const answers = Promise.all(Array.from({ length: 32 }, () => cache.load(7, read.load)));
    read.open();
    expect((await answers).every((a) => a?.answer.status === 'running')).toBe(true);
    expect(read.starts()).toBe(1);
    expect(cache.get(7)?.answer.status).toBe('running');
  });

  it('drops the answer when its execution changes, and expires it after the TTL', async () => {
    const cache = new RuntimeExecutionCache({ ttlMs: 30 });
    const read = gate(execution('running'));
    const loaded = cache.load(7, read.load);
    read.open();
    await loaded;
    expect(cache.get(7)).toBeDefined();
    cache.changed('e-7');
    expect(cache.get(7)).toBeUndefined();
    const again = gate(execution('completed'));
    const reloaded = cache.load(7, again.load);
    again.open();
    await reloaded;
    expect(cache.get(7)?.answer.status).toBe('completed');
    await new Promise((r) => setTimeout(r, 40));
    expect(cache.get(7)).toBeUndefined();
  });

  it('does not keep a read that a change of its execution overtook, nor let later readers join it', async () => {
    const cache = new RuntimeExecutionCache();
    const warm = gate(execution('running'));
    const warmed = cache.load(7, warm.load);
    warm.open();
    await warmed;
    cache.changed('e-7');
    const before = gate(execution('running'));
    const first = cache.load(7, before.load);
    cache.changed('e-7');
    const after = gate(execution('completed'));
    const second = cache.load(7, after.load);
    expect(after.starts()).toBe(1);
    before.open();
    expect((await first)?.answer.status).toBe('running');
    expect(cache.get(7)).toBeUndefined();
    after.open();
    expect((await second)?.answer.status).toBe('completed');
    expect(cache.get(7)?.answer.status).toBe('completed');
  });

  it('keeps no answer for an unknown number', async () => {
    const cache = new RuntimeExecutionCache();
    const read = gate(null);
    const loaded = cache.load(8, read.load);
    read.open();
    expect(await loaded).toBeNull();
    expect(cache.get(8)).toBeUndefined();
  });

  it('wakes a cancel waiting for the execution at its next change, or after the time given', async () => {
    const cache = new RuntimeExecutionCache();
    const started = Date.now();
    const woken = cache.nextChange('e-7', 5_000);
    setTimeout(() => cache.changed('e-7'), 20);
    await woken;
    expect(Date.now() - started).toBeLessThan(1_000);
    const idle = Date.now();
    await cache.nextChange('e-8', 30);
    expect(Date.now() - idle).toBeGreaterThanOrEqual(25);
  });
});
