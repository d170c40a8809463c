import { describe, expect, it } from 'vitest';
import type { RequestCtx } from './context.ts';
import { type CachedTaskState, ReadCache } from './read-cache.ts';

/** A load the test finishes by hand, counting how often it was started. */
function gate<V>(value: V) {
  let starts = 0;
  const opened: Array<() => void> = [];
  return {
    load: () => {
      starts++;
      return new Promise<V>((resolve) => opened.push(() => resolve(value)));
    },
    open: () => {
      for (const resolve of opened.splice(0)) resolve();
    },
    starts: () => starts,
  };
}

const stateOf = (title: string) =>
  ({ task: { id: 't1', title, project: { slug: 'inbox' } }, execution: {} }) as unknown as CachedTaskState;
const sessionOf = (userId: string) => ({ actor: { userId } }) as unknown as Omit<RequestCtx, 'requestId'>;

describe('ReadCache', () => {
  it('sends concurrent misses of one task to the database once and keeps the answer', async () => {
    const cache = new ReadCache();
    const read = gate(stateOf('a'));
    const answers = Promise.all(Array.from({ length: 32 }, () => cache.loadTaskState('t1', read.load)));
    read.open();
    expect((await answers).every((a) => a.task.title === 'a')).toBe(true);
    expect(read.starts()).toBe(1);
    expect(cache.taskState('t1')?.task.title).toBe('a');
  });

  it('does not let a read that started before a change answer reads after it, nor keep it', async () => {
    const cache = new ReadCache();
    const before = gate(stateOf('old'));
    const first = cache.loadTaskState('t1', before.load);
    cache.taskChanged('t1');
    const after = gate(stateOf('new'));
    const second = cache.loadTaskState('t1', after.load);
    expect(after.starts()).toBe(1);
    before.open();
    expect((await first).task.title).toBe('old');
    expect(cache.taskState('t1')).toBeUndefined();
    after.open();
    expect((await second).task.title).toBe('new');
    expect(cache.taskState('t1')?.task.title).toBe('new');
  });

  it('shares a failed read with the reads waiting on it, then reads again', async () => {
    const cache = new ReadCache();
    let starts = 0;
    const failing = () => {
      starts++;
      return Promise.reject(new Error('task t1 not found'));
    };
    const results = await Promise.allSettled([
      cache.loadTaskState('t1', failing),
      cache.loadTaskState('t1', failing),
    ]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(starts).toBe(1);
    await expect(cache.loadTaskState('t1', failing)).rejects.toThrow('not found');
    expect(starts).toBe(2);
  });

  it('never keeps or shares a session read that a revocation overtook', async () => {
    const cache = new ReadCache();
    const before = gate<Omit<RequestCtx, 'requestId'> | null>(sessionOf('u1'));
    const first = cache.loadSession('h1', before.load);
    expect(cache.loadSession('h1', before.load)).toBe(first);
    cache.forgetAllSessions();
    const after = gate<Omit<RequestCtx, 'requestId'> | null>(null);
    const second = cache.loadSession('h1', after.load);
    before.open();
    after.open();
    expect((await first)?.actor.userId).toBe('u1');
    expect(await second).toBeNull();
    expect(before.starts()).toBe(1);
    expect(after.starts()).toBe(1);
    expect(cache.session('h1')).toBeUndefined();
  });

  it("keeps a task's submitter through its own execution's changes, not through another execution's", async () => {
    const cache = new ReadCache();
    const submitter = { executionId: 'e1', session: { tokenHash: 'h1' } };
    await cache.loadTaskSubmitter('t1', async () => submitter);
    cache.taskChanged('t1', 'e1'); // the submitted run moves on: same session stands for the task
    expect(cache.taskSubmitter('t1')).toBe(submitter);
    cache.taskChanged('t1', 'e2'); // another run of the card: read again
    expect(cache.taskSubmitter('t1')).toBeUndefined();
  });

  it('keeps a credential until a revocation or its own expiry, and never a refusal nor a read a revocation overtook', async () => {
    const cache = new ReadCache();
    const keep = (ctx: Omit<RequestCtx, 'requestId'> | null, until?: number) => ctx && { ctx, until };
    await cache.loadCredential(
      'apikey:a',
      async () => sessionOf('u1'),
      (ctx) => keep(ctx),
    );
    expect(cache.credential('apikey:a')?.actor.userId).toBe('u1');
    await cache.loadCredential(
      'apikey:b',
      async () => null,
      (ctx) => keep(ctx),
    );
    expect(cache.credential('apikey:b')).toBeUndefined();
    await cache.loadCredential(
      'apikey:c',
      async () => sessionOf('u2'),
      (ctx) => keep(ctx, Date.now() - 1),
    );
    expect(cache.credential('apikey:c')).toBeUndefined();

    const racing = gate<Omit<RequestCtx, 'requestId'> | null>(sessionOf('u1'));
    const read = cache.loadCredential('apikey:d', racing.load, (ctx) => keep(ctx));
    cache.forgetAllSessions();
    expect(cache.credential('apikey:a')).toBeUndefined();
    racing.open();
    expect((await read)?.actor.userId).toBe('u1');
    expect(cache.credential('apikey:d')).toBeUndefined();
  });

  it('forgets everything, and keeps no read in flight, when change notices may have been lost', async () => {
    const cache = new ReadCache({ taskTtlMs: 60_000 });
    await cache.loadTaskState('t1', async () => stateOf('t1'));
    await cache.loadCredential(
      'apikey:a',
      async () => sessionOf('u1'),
      (ctx) => ctx && { ctx },
    );
    const racing = gate(stateOf('t2'));
    const read = cache.loadTaskState('t2', racing.load);
    cache.forgetAll();
    expect(cache.taskState('t1')).toBeUndefined();
    expect(cache.credential('apikey:a')).toBeUndefined();
    racing.open();
    await read;
    expect(cache.taskState('t2')).toBeUndefined();
  });

  it('keeps no task read in flight when the record of changes is dropped to bound it', async () => {
    // Once the dropped record let a read started before a change find its task back at the
    // generation it started from, and the answer from before the change was kept.
    const cache = new ReadCache({ taskTtlMs: 60_000 });
    const racing = gate(stateOf('old'));
    const read = cache.loadTaskState('t1', racing.load);
    cache.taskChanged('t1');
    for (let i = 0; i <= 50_000; i++) cache.taskChanged(`other-${i}`);
    expect(cache.generation('t1')).toBe(0);
    racing.open();
    expect((await read).task.title).toBe('old');
    expect(cache.taskState('t1')).toBeUndefined();
  });
});
