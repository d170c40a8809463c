import { describe, expect, it } from 'vitest';
import { FailedPollLimit } from './failed-poll-limit.ts';

/** A limit of `max` failures a minute on a clock the test moves. */
function limitAt(max: number, startMs: number) {
  const clock = { now: startMs };
  return { clock, limit: new FailedPollLimit(max, 60_000, () => clock.now) };
}

/** Fails polls from `address` until one is refused; how many went ahead. */
function failUntilRefused(limit: FailedPollLimit, address: string, cap = 1_000): number {
  let n = 0;
  while (n < cap && limit.refusal(address, `task-${n}`) === null) {
    limit.failed(address);
    n += 1;
  }
  return n;
}

describe('FailedPollLimit', () => {
  it('a burst across the turn of a minute gets the limit once, not twice', () => {
    // 1 s before a minute turns: 20 fail; 1 s after it, the same address may fail only as much as
    // the last 60 s leave room for (the last minute's 20, weighted by the 59 s of it still counted).
    const { clock, limit } = limitAt(20, 60_000 * 1000 - 1_000);
    expect(failUntilRefused(limit, '10.0.0.1')).toBe(20);
    clock.now += 2_000;
    expect(failUntilRefused(limit, '10.0.0.1')).toBe(1);
    // Across 62 s of clock: 21 failures, where a fixed window allowed 40.
  });

  it('frees the address as the last minute fades, and says when in Retry-After', () => {
    const { clock, limit } = limitAt(20, 60_000 * 2000);
    expect(failUntilRefused(limit, '10.0.0.2')).toBe(20);
    // In the same minute: refused until the next minute has faded this one's 20 below the limit.
    clock.now += 30_000;
    const wait = limit.refusal('10.0.0.2', 'unknown');
    // 30 s to the turn, where this minute's 20 start to fade below the limit: one more goes ahead.
    expect(wait).toBe(31);
    clock.now += (wait ?? 0) * 1000;
    expect(limit.refusal('10.0.0.2', 'unknown')).toBeNull();
    limit.failed('10.0.0.2');
    expect(limit.refusal('10.0.0.2', 'unknown')).toBeGreaterThan(0);
    // Halfway into that minute, half of the last one's 20 still counts, and its own one failure.
    clock.now = 60_000 * 2001 + 30_000;
    expect(failUntilRefused(limit, '10.0.0.2')).toBe(9);
    // Two minutes later nothing counts.
    clock.now += 120_000;
    expect(failUntilRefused(limit, '10.0.0.2')).toBe(20);
  });

  it('counts each address on its own, and a task answered lately passes a limited address', () => {
    const { limit } = limitAt(5, 60_000 * 3000);
    expect(failUntilRefused(limit, '10.0.0.3')).toBe(5);
    expect(failUntilRefused(limit, '10.0.0.4')).toBe(5);
    limit.answered('known-task');
    expect(limit.refusal('10.0.0.3', 'known-task')).toBeNull();
    expect(limit.refusal('10.0.0.3', 'other-task')).toBeGreaterThan(0);
  });
});
