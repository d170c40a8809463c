import { describe, expect, it } from 'vitest';
import { type CachedRuntimeExecution, ReadCache } from './read-cache.ts';

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

describe('ReadCache: the 2026.3 execution poll', () => {
  it('sends concurrent misses of one execution to the database once and keeps the answer', async () => {
    const cache = new ReadCache();
    const read = gate(execution('running'));
    const answers = Promise.all(Array.from({ length: 32 }, () => cache.loadRuntimeExecution(7, read.load)));
    read.open();
    expect((await answers).every((a) => a?.answer.status === 'running')).toBe(true);
    expect(read.starts()).toBe(1);
    expect(cache.runtimeExecution(7)?.answer.status).toBe('running');
  });

  it('drops the answer when its execution changes, and expires it after the TTL', async () => {
    const cache = new ReadCache({ taskTtlMs: 30 });
    const read = gate(execution('running'));
    const loaded = cache.loadRuntimeExecution(7, read.load);
    read.open();
    await loaded;
    expect(cache.runtimeExecution(7)).toBeDefined();
    cache.taskChanged('t-1', 'e-7');
    expect(cache.runtimeExecution(7)).toBeUndefined();
    const again = gate(execution('completed'));
    const reloaded = cache.loadRuntimeExecution(7, again.load);
    again.open();
    await reloaded;
    expect(cache.runtimeExecution(7)?.answer.status).toBe('completed');
    await new Promise((r) => setTimeout(r, 40));
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });

  it('does not keep a read that a change of its execution overtook; a reader after the change reads again', async () => {
    const cache = new ReadCache();
    const warm = gate(execution('running'));
    const warmed = cache.loadRuntimeExecution(7, warm.load);
    warm.open();
    await warmed;
    cache.taskChanged('t-1', 'e-7');
    const before = gate(execution('running'));
    const first = cache.loadRuntimeExecution(7, before.load);
    cache.taskChanged('t-1', 'e-7');
    const after = gate(execution('completed'));
    const second = cache.loadRuntimeExecution(7, after.load);
    before.open();
    expect((await first)?.answer.status).toBe('running');
    expect(cache.runtimeExecution(7)).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(after.starts()).toBe(1);
    after.open();
    expect((await second)?.answer.status).toBe('completed');
    expect(cache.runtimeExecution(7)?.answer.status).toBe('completed');
  });

  it('does not answer a first read of a number to a reader that came after its execution changed', async () => {
    // The number's execution is not known until the read returns, so the change cannot stop the
    // reader joining it: the reader must notice and read again.
    const cache = new ReadCache();
    const before = gate(execution('running'));
    const first = cache.loadRuntimeExecution(7, before.load);
    cache.taskChanged('t-1', 'e-7');
    const after = gate(execution('completed'));
    const second = cache.loadRuntimeExecution(7, after.load);
    before.open();
    expect((await first)?.answer.status).toBe('running');
    await new Promise((r) => setImmediate(r));
    after.open();
    expect((await second)?.answer.status).toBe('completed');
    expect(cache.runtimeExecution(7)?.answer.status).toBe('completed');
  });

  it('still shares one read among readers while other executions change', async () => {
    const cache = new ReadCache();
    const read = gate(execution('running'));
    const answers: Array<Promise<CachedRuntimeExecution | null>> = [];
    for (let i = 0; i < 16; i++) {
      answers.push(cache.loadRuntimeExecution(7, read.load));
      cache.taskChanged(`t-${i + 10}`, `e-${i + 10}`);
    }
    read.open();
    expect((await Promise.all(answers)).every((a) => a?.answer.status === 'running')).toBe(true);
    expect(read.starts()).toBe(1);
    expect(cache.runtimeExecution(7)?.answer.status).toBe('running');
  });

  it('keeps no answer for an unknown number', async () => {
    const cache = new ReadCache();
    const read = gate(null);
    const loaded = cache.loadRuntimeExecution(8, read.load);
    read.open();
    expect(await loaded).toBeNull();
    expect(cache.runtimeExecution(8)).toBeUndefined();
  });

  it('wakes a cancel waiting for the execution at its next change, or after the time given', async () => {
    const cache = new ReadCache();
    const started = Date.now();
    const woken = cache.nextChange('e-7', 5_000);
    setTimeout(() => cache.taskChanged('t-1', 'e-7'), 20);
    await woken;
    expect(Date.now() - started).toBeLessThan(1_000);
    const idle = Date.now();
    await cache.nextChange('e-8', 30);
    expect(Date.now() - idle).toBeGreaterThanOrEqual(25);
  });
});
