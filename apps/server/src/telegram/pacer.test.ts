import { describe, expect, it } from 'vitest';
import { ChatPacer } from './pacer.ts';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('ChatPacer', () => {
  it('runs one chat in order, at least the interval apart, and chats side by side', async () => {
    const pacer = new ChatPacer(100, () => {});
    const at: Array<[number, string, number]> = [];
    const start = Date.now();
    const call = (chat: number, name: string) =>
      pacer.run(chat, async () => at.push([chat, name, Date.now() - start]));
    await Promise.all([call(1, 'a'), call(1, 'b'), call(1, 'c'), call(2, 'x')]);
    expect(at.filter(([c]) => c === 1).map(([, n]) => n)).toEqual(['a', 'b', 'c']);
    const [t0 = 0, t1 = 0, t2 = 0] = at.filter(([c]) => c === 1).map(([, , t]) => t);
    expect(t1 - t0).toBeGreaterThanOrEqual(95);
    expect(t2 - t1).toBeGreaterThanOrEqual(95);
    // Chat 2 did not wait behind chat 1.
    expect(at.find(([c]) => c === 2)?.[2]).toBeLessThan(50);
  });

  it('keeps only the newest waiting call of a key (the latest text of a message)', async () => {
    const pacer = new ChatPacer(50, () => {});
    const sent: string[] = [];
    const edit = (text: string) =>
      pacer.run(
        7,
        async () => {
          sent.push(text);
          return text;
        },
        'msg-1',
      );
    const first = edit('planning');
    const second = edit('running 1/3');
    const third = edit('running 2/3');
    expect(await Promise.all([first, second, third])).toEqual(['planning', undefined, 'running 2/3']);
    expect(sent).toEqual(['planning', 'running 2/3']);
  });

  it('retries transient failures with a backoff and reports the rest without throwing', async () => {
    const errors: unknown[] = [];
    const pacer = new ChatPacer(
      0,
      (err) => errors.push(err),
      (err) => (err as Error).message === 'network',
      2,
    );
    let tries = 0;
    const flaky = await pacer.run(1, async () => {
      tries++;
      if (tries < 2) throw new Error('network');
      return 'sent';
    });
    expect(flaky).toBe('sent');
    expect(await pacer.run(1, async () => Promise.reject(new Error('400 bad')))).toBeUndefined();
    expect(errors.map((e) => (e as Error).message)).toEqual(['400 bad']);
  });

  it('drops waiting calls on close', async () => {
    const pacer = new ChatPacer(200, () => {});
    const ran: string[] = [];
    const a = pacer.run(1, async () => ran.push('a'));
    const b = pacer.run(1, async () => ran.push('b'));
    await tick(20);
    pacer.close();
    await Promise.all([a, b]);
    expect(ran).toEqual(['a']);
    expect(await pacer.run(1, async () => 'late')).toBeUndefined();
  });
});
