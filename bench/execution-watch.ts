// Follows every execution of a bench database through the server's own change notices (LISTEN on
// ccl_execution, sent after each commit): how many are in each state, and when a count was reached.
import { CHANNELS, type ExecutionChange } from '@ccl/core';
import { createNotifier } from '@ccl/queue';

const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED']);

export type ExecutionWatch = Awaited<ReturnType<typeof watchExecutions>>;

export async function watchExecutions(databaseUrl: string) {
  const notifier = createNotifier(databaseUrl);
  const last = new Map<string, string>();
  const counts = new Map<string, number>();
  const waiters = new Set<{ done: () => boolean; resolve: (at: number) => void }>();
  const bump = (state: string, by: number) => counts.set(state, (counts.get(state) ?? 0) + by);
  await notifier.subscribe(CHANNELS.execution, (payload) => {
    const change = JSON.parse(payload) as ExecutionChange;
    const before = last.get(change.executionId);
    if (before === change.state || (before && TERMINAL.has(before))) return;
    const at = performance.now();
    if (before) bump(before, -1);
    bump(change.state, 1);
    last.set(change.executionId, change.state);
    for (const waiter of waiters) {
      if (!waiter.done()) continue;
      waiters.delete(waiter);
      waiter.resolve(at);
    }
  });
  const count = (state: string) => counts.get(state) ?? 0;
  return {
    count,
    /** The state counts as the notices told them. */
    counts: () => Object.fromEntries(counts),
    /**
     * Resolves with the moment (performance.now()) the notice that made `done` true arrived.
     * A FAILED execution, or no progress within `timeoutMs`, rejects with the counts so far.
     */
    until(done: () => boolean, timeoutMs: number): Promise<number> {
      if (done()) return Promise.resolve(performance.now());
      return new Promise((resolve, reject) => {
        const fail = (why: string) => {
          waiters.delete(waiter);
          clearInterval(check);
          reject(new Error(`${why}; executions by state: ${JSON.stringify(Object.fromEntries(counts))}`));
        };
        const waiter = {
          done: () => count('FAILED') > 0 || done(),
          resolve: (at: number) => {
            clearInterval(check);
            if (count('FAILED') > 0) fail('an execution FAILED');
            else resolve(at);
          },
        };
        let seen = JSON.stringify(Object.fromEntries(counts));
        let quietSince = performance.now();
        const check = setInterval(() => {
          const now = JSON.stringify(Object.fromEntries(counts));
          if (now !== seen) {
            seen = now;
            quietSince = performance.now();
          } else if (performance.now() - quietSince > timeoutMs) {
            fail(`no progress for ${timeoutMs / 1000} s`);
          }
        }, 500);
        waiters.add(waiter);
      });
    },
    close: () => notifier.close(),
  };
}
