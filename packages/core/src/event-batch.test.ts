import { describe, expect, it } from 'vitest';
import { EventBatch, MAX_WAITING } from './event-batch.ts';
import { pendingEvent } from './execution-store.ts';

describe('EventBatch', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('writes what waits on its own after its delay, or hands it to the next write first', async () => {
    const written: string[][] = [];
    const batch = new EventBatch(
      async (events) => {
        written.push(events.map((e) => e.type));
      },
      (err) => {
        throw err;
      },
      30,
    );
    await batch.add(pendingEvent('a', {}));
    await batch.add(pendingEvent('b', {}));
    expect(written).toEqual([]);
    await sleep(80);
    expect(written).toEqual([['a', 'b']]);

    await batch.add(pendingEvent('c', {}));
    const carried = await batch.take();
    expect(carried.map((e) => e.type)).toEqual(['c']);
    await sleep(60);
    // Taken by a write of the run's: the timer does not write it again.
    expect(written).toEqual([['a', 'b']]);

    // A carrier that failed gives its events back, ahead of anything added since.
    await batch.add(pendingEvent('e', {}));
    batch.giveBack(carried);
    await batch.flush();
    expect(written).toEqual([
      ['a', 'b'],
      ['c', 'e'],
    ]);
  });

  it('carries what waits in a write of the run, and keeps it for the next write when that one fails', async () => {
    const batch = new EventBatch(
      async () => undefined,
      (err) => {
        throw err;
      },
      10_000,
    );
    await batch.add(pendingEvent('a', {}));
    await expect(
      batch.carry(async (events) => {
        expect(events.map((e) => e.type)).toEqual(['a']);
        throw new Error('the database went away');
      }),
    ).rejects.toThrow('the database went away');
    await batch.add(pendingEvent('b', {}));
    const carried = await batch.carry(async (events) => events.map((e) => e.type));
    expect(carried).toEqual(['a', 'b']);
    expect(await batch.carry(async (events) => events.length)).toBe(0);
  });

  it("hands nothing over until the timer's own write has finished, so seqs follow the events' order", async () => {
    const order: string[] = [];
    let release: () => void = () => undefined;
    const batch = new EventBatch(
      async (events) => {
        order.push(`start ${events.map((e) => e.type).join(',')}`);
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        order.push('end');
      },
      () => undefined,
      10,
    );
    await batch.add(pendingEvent('a', {}));
    await sleep(40);
    await batch.add(pendingEvent('b', {}));
    const taking = batch.take().then((events) => order.push(`taken ${events.map((e) => e.type).join(',')}`));
    await sleep(20);
    expect(order).toEqual(['start a']);
    release();
    await taking;
    expect(order).toEqual(['start a', 'end', 'taken b']);
  });

  it('holds the reporter up once MAX_WAITING events wait, until they are written', async () => {
    const written: number[] = [];
    let release: () => void = () => undefined;
    const batch = new EventBatch(
      async (events) => {
        await new Promise<void>((resolve) => {
          release = resolve;
        });
        written.push(events.length);
      },
      () => undefined,
      60_000,
    );
    for (let i = 0; i < MAX_WAITING - 1; i++) await batch.add(pendingEvent('progress', { i }));
    let returned = false;
    const last = batch.add(pendingEvent('progress', { i: MAX_WAITING })).then(() => {
      returned = true;
    });
    await sleep(20);
    expect(returned).toBe(false);
    release();
    await last;
    expect(written).toEqual([MAX_WAITING]);
  });

  it('reports a failed write and goes on', async () => {
    const errors: unknown[] = [];
    const batch = new EventBatch(
      async () => {
        throw new Error('database gone');
      },
      (err) => errors.push(err),
      10,
    );
    await batch.add(pendingEvent('a', {}));
    await batch.flush();
    expect((errors[0] as Error).message).toBe('database gone');
    expect(await batch.take()).toEqual([]);
  });
});
