/**
 * Runs `work` after `waitMs` when asked, however often it is asked meanwhile: at most one run in
 * flight, and a request that arrives during a run gets one more run `waitMs` after it ends. Unlike a
 * debounce, a steady stream of requests (a run reporting cost every few hundred ms) still gets a
 * fresh answer about once per `waitMs` instead of none until the stream stops.
 */
export function coalesce(work: () => Promise<unknown>, waitMs: number): { request(): void; stop(): void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let again = false;
  let stopped = false;
  const fire = async () => {
    timer = undefined;
    running = true;
    try {
      await work();
    } catch {
      // The next request tries again; the figure shown meanwhile is the last good one.
    } finally {
      running = false;
      if (again) {
        again = false;
        request();
      }
    }
  };
  function request() {
    if (stopped) return;
    if (running) again = true;
    else timer ??= setTimeout(fire, waitMs);
  }
  return {
    request,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
