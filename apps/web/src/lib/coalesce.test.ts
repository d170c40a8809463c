import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { coalesce } from './coalesce.ts';

describe('coalesce', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  /** Work that takes `ms` and records when each run started and how many overlapped. */
  function slowWork(ms: number) {
    const starts: number[] = [];
    let inFlight = 0;
    let maxInFlight = 0;
    const work = async () => {
      starts.push(Date.now());
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, ms));
      inFlight--;
    };
    return { work, starts, max: () => maxInFlight };
  }

  it('turns a burst of requests into one run after the wait', async () => {
    const w = slowWork(50);
    const c = coalesce(w.work, 1000);
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) c.request();
    await vi.advanceTimersByTimeAsync(999);
    expect(w.starts).toEqual([]);
    await vi.advanceTimersByTimeAsync(5000);
    expect(w.starts).toEqual([t0 + 1000]);
  });

  it('keeps one run in flight under a steady stream, and answers it about once per wait', async () => {
    const w = slowWork(300);
    const c = coalesce(w.work, 1000);
    // A request every 100 ms for 5 s: a debounce would not run until they stop; this runs every ~1.3 s.
    let lastRequest = 0;
    for (let i = 0; i < 50; i++) {
      c.request();
      lastRequest = Date.now();
      await vi.advanceTimersByTimeAsync(100);
    }
    await vi.advanceTimersByTimeAsync(5000);
    expect(w.max()).toBe(1);
    expect(w.starts.length).toBeGreaterThanOrEqual(4);
    expect(w.starts.length).toBeLessThanOrEqual(5);
    expect(w.starts.filter((t) => t <= lastRequest).length).toBeGreaterThanOrEqual(3);
    // The last request still gets a run of its own, after it was made.
    expect(w.starts.at(-1)).toBeGreaterThan(lastRequest);
  });

  it('keeps going after a failed run and does nothing once stopped', async () => {
    let runs = 0;
    const c = coalesce(async () => {
      runs++;
      throw new Error('offline');
    }, 10);
    c.request();
    await vi.advanceTimersByTimeAsync(20);
    c.request();
    await vi.advanceTimersByTimeAsync(20);
    expect(runs).toBe(2);
    c.request();
    c.stop();
    c.request();
    await vi.advanceTimersByTimeAsync(100);
    expect(runs).toBe(2);
  });
});
