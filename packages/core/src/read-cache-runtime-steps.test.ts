import { describe, expect, it } from 'vitest';
import { type CachedRuntimeExecution, type CachedTaskState, ReadCache } from './read-cache.ts';

const AT = '2026-12-07T01:00:00.000Z';

/** A running run's answer as a poll read it: event seq 3. */
const running = (seq = 3) =>
  ({
    executionId: 'e-7',
    taskUuid: 't-1',
    answer: { id: 7, status: 'running', payload: 'read', updatedAt: AT },
    seq,
  }) as unknown as CachedRuntimeExecution;

async function keptRunning(cache: ReadCache) {
  await cache.loadRuntimeExecution(7, async () => running());
  expect(cache.runtimeExecution(7)?.seq).toBe(3);
}

/**
 * A running run writes an event at every step (appendEvent), and its adapter polls it as often: an
 * event's notice names the run's next seq, its unchanged state and the row's new updated_at, which
 * is all an event changes of the 2026.3 answer. The kept answer follows it instead of being dropped
 * and read again; anything else (a move, a seq skipped, a notice without its time) is read again.
 */
describe('ReadCache: a kept poll answer follows its run events', () => {
  it('moves one event on per notice, taking the notice time as updatedAt', async () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    await keptRunning(cache);
    cache.taskChanged('t-1', 'e-7', { seq: 4, state: 'RUNNING', at: '2026-12-07T01:00:01.000Z' });
    cache.taskChanged('t-1', 'e-7', { seq: 5, state: 'RUNNING', at: '2026-12-07T01:00:02.000Z' });
    const kept = cache.runtimeExecution(7);
    expect(kept?.seq).toBe(5);
    expect(kept?.answer).toMatchObject({
      status: 'running',
      payload: 'read',
      updatedAt: '2026-12-07T01:00:02.000Z',
    });
    // Still linked to its run: the next move reaches it.
    cache.taskChanged('t-1', 'e-7', { seq: 6, state: 'COMPLETED' });
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });

  it('keeps a read answer through its own notice heard late', async () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    await keptRunning(cache);
    cache.taskChanged('t-1', 'e-7', { seq: 3, state: 'RUNNING', at: AT });
    expect(cache.runtimeExecution(7)?.seq).toBe(3);
  });

  it.each([
    ['a move to another state', { seq: 4, state: 'WAITING' }],
    ['a move without a time, even to the same state', { seq: 4, state: 'RUNNING' }],
    ['a notice one event past a missed one', { seq: 5, state: 'RUNNING', at: AT }],
    ['an event in another state', { seq: 4, state: 'PLANNING', at: AT }],
    ['an older seq in another state', { seq: 2, state: 'PLANNING', at: AT }],
  ])('is read again after %s', async (_what, heard) => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    await keptRunning(cache);
    cache.taskChanged('t-1', 'e-7', heard);
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });

  it('does not follow an answer of unknown seq', async () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    const { seq: _seq, ...unknown } = running();
    await cache.loadRuntimeExecution(7, async () => unknown as CachedRuntimeExecution);
    cache.taskChanged('t-1', 'e-7', { seq: 4, state: 'RUNNING', at: AT });
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });

  it('is not kept when the event was heard while the read was out', async () => {
    const cache = new ReadCache({ runtimeTtlMs: 60_000 });
    await cache.loadRuntimeExecution(7, async () => {
      cache.taskChanged('t-1', 'e-7', { seq: 4, state: 'RUNNING', at: AT });
      return running();
    });
    expect(cache.runtimeExecution(7)).toBeUndefined();
  });
});

/** A task's state as the session contract's poll read it: its submitted run at event seq 3, running. */
const taskState = () =>
  ({
    task: { id: 't-1', title: 'card', project: { slug: 'p' } },
    execution: { id: 'e-7', state: 'RUNNING', eventSeq: 3, updatedAt: new Date(AT) },
    answer: { state: 'running' },
  }) as unknown as CachedTaskState;

describe("ReadCache: a kept task state follows its run's events", () => {
  async function kept(cache: ReadCache) {
    await cache.loadTaskState('t-1', async () => taskState());
    expect(cache.taskState('t-1')).toBeDefined();
  }

  it('moves one event on per notice of its own run, the answer kept as built', async () => {
    const cache = new ReadCache({ taskTtlMs: 60_000 });
    await kept(cache);
    const answer = cache.taskState('t-1')?.answer;
    cache.taskChanged('t-1', 'e-7', { seq: 4, state: 'RUNNING', at: '2026-12-07T01:00:01.000Z' });
    const state = cache.taskState('t-1');
    expect(state?.execution.eventSeq).toBe(4);
    expect(state?.execution.updatedAt.toISOString()).toBe('2026-12-07T01:00:01.000Z');
    expect(state?.answer).toBe(answer);
  });

  it('stays at a late notice of the write it was read at (same seq and state, with or without its time)', async () => {
    // Under load the submit's own PENDING notice came after the first poll's read: it was dropped
    // there, and a card changed meanwhile without a notice showed up (submitted-runs-polled-from-cache).
    const cache = new ReadCache({ taskTtlMs: 60_000 });
    await kept(cache);
    const state = cache.taskState('t-1');
    cache.taskChanged('t-1', 'e-7', { seq: 3, state: 'RUNNING' });
    cache.taskChanged('t-1', 'e-7', { seq: 3, state: 'RUNNING', at: AT });
    expect(cache.taskState('t-1')).toBe(state);
  });

  it.each([
    ['a usage report (the answer shows usage)', 'e-7', { seq: 4, state: 'RUNNING', at: AT, usage: true }],
    ['a usage report at the same seq', 'e-7', { seq: 3, state: 'RUNNING', at: AT, usage: true }],
    ['another state at the same seq', 'e-7', { seq: 3, state: 'WAITING' }],
    ["another run's event", 'e-8', { seq: 4, state: 'RUNNING', at: AT }],
    ['a move', 'e-7', { seq: 4, state: 'WAITING' }],
    ['a skipped seq', 'e-7', { seq: 5, state: 'RUNNING', at: AT }],
  ])('is read again after %s', async (_what, executionId, heard) => {
    const cache = new ReadCache({ taskTtlMs: 60_000 });
    await kept(cache);
    cache.taskChanged('t-1', executionId, heard);
    expect(cache.taskState('t-1')).toBeUndefined();
  });

  it('keeps the expiry of the read: a notice says nothing of the changes that send none', async () => {
    const cache = new ReadCache({ taskTtlMs: 80 });
    await kept(cache);
    await new Promise((r) => setTimeout(r, 50));
    cache.taskChanged('t-1', 'e-7', { seq: 4, state: 'RUNNING', at: AT });
    expect(cache.taskState('t-1')).toBeDefined();
    await new Promise((r) => setTimeout(r, 50));
    expect(cache.taskState('t-1')).toBeUndefined();
  });
});
