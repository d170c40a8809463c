import { describe, expect, it } from 'vitest';
import { type CachedRuntimeExecution, ReadCache } from './read-cache.ts';

/** A run just submitted, as a submit keeps it: PENDING, event seq 0. */
const pending = (prompt = 'queued') =>
  ({
    executionId: 'e-7',
    taskUuid: 't-1',
    answer: { id: 7, status: 'pending', payload: prompt },
    seq: 0,
  }) as unknown as CachedRuntimeExecution & { seq: number };

const loaded = (status: string) =>
  ({ executionId: 'e-7', taskUuid: 't-1', answer: { id: 7, status } }) as unknown as CachedRuntimeExecution;

/**
 * A submit keeps its run's 2026.3 poll answer (runtime-answer.ts primeRuntimePoll), so that the
 * adapter's polls of a queued run read nothing. Kept only while the notices heard are the submit's
 * own (the rank's: seq 0, PENDING); any other change, or a gap in the notices, is read afresh.
 */
describe('ReadCache: a submitted run answers its polls without a read', () => {
  it('keeps the answer through its own notice, heard after it was kept, and drops it at the next change', () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    cache.primeRuntimeExecution(7, pending(), cache.changeMark());
    expect(cache.runtimeExecution(7)?.answer.payload).toBe('queued');
    cache.taskChanged('t-1', 'e-7', { seq: 0, state: 'PENDING' });
    expect(cache.runtimeExecution(7)?.answer.payload).toBe('queued');
    cache.taskChanged('t-1', 'e-7', { seq: 1, state: 'PLANNING' });
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });

  it('keeps it when its own notice came before it was kept', () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    const mark = cache.changeMark();
    cache.taskChanged('t-1', 'e-7', { seq: 0, state: 'PENDING' });
    cache.primeRuntimeExecution(7, pending(), mark);
    expect(cache.runtimeExecution(7)).toBeDefined();
  });

  it('does not keep it when the run moved on between the write and the keep (a worker was quicker)', () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    const mark = cache.changeMark();
    cache.taskChanged('t-1', 'e-7', { seq: 0, state: 'PENDING' });
    cache.taskChanged('t-1', 'e-7', { seq: 1, state: 'PLANNING' });
    cache.primeRuntimeExecution(7, pending(), mark);
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });

  it('does not keep it after a gap in the notices, nor after their record was dropped', () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    const beforeGap = cache.changeMark();
    cache.forgetAll();
    cache.primeRuntimeExecution(7, pending(), beforeGap);
    expect(cache.runtimeExecution(7)).toBeUndefined();

    const beforeFlood = cache.changeMark();
    // More executions changed than the record keeps: whether run 7 changed is no longer known.
    for (let i = 0; i <= 50_001; i++) cache.taskChanged(`t-x${i}`, `e-x${i}`);
    cache.primeRuntimeExecution(7, pending(), beforeFlood);
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });

  it('drops it on a notice that names no seq or state, and never keeps a read answer through any notice', async () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    cache.primeRuntimeExecution(7, pending(), cache.changeMark());
    cache.taskChanged('t-1', 'e-7');
    expect(cache.runtimeExecution(7)).toBeUndefined();
    await cache.loadRuntimeExecution(7, async () => loaded('pending'));
    expect(cache.runtimeExecution(7)).toBeDefined();
    cache.taskChanged('t-1', 'e-7', { seq: 0, state: 'PENDING' });
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });

  it('keeps the poll answers for runtimeTtlMs, apart from the other entries', async () => {
    const cache = new ReadCache({ taskTtlMs: 20, runtimeTtlMs: 60_000 });
    cache.primeRuntimeExecution(7, pending(), cache.changeMark());
    await new Promise((r) => setTimeout(r, 40));
    expect(cache.runtimeExecution(7)).toBeDefined();
    const short = new ReadCache({ taskTtlMs: 60_000, runtimeTtlMs: 20 });
    short.primeRuntimeExecution(7, pending(), short.changeMark());
    await new Promise((r) => setTimeout(r, 40));
    expect(short.runtimeExecution(7)).toBeUndefined();
  });
});
