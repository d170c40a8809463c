// The adapters' polls for bench/backlog.ts, in a process of their own, as real clients are: the
// scenario's process also watches every run's notices and reads memory, and its pauses would read
// as the server's latency. Takes one JSON job on stdin, prints one JSON answer on stdout.
//
// Open loop: requests sent evenly spaced at `rate` a second whatever the answers do (as many
// adapters, each polling its own run, send them), each for the next run of `numbers` in turn.
// Latency from each request's send to its full answer. (autocannon's rate mode sends each
// connection's quota in a burst at the top of every second and corrects for coordinated omission at
// a 1 ms interval, which distorts the percentiles.)
//
// Sent with node:http on kept-alive connections, as many as are in flight (as fetch opens them), not
// with fetch: the same requests cost this process a third of fetch's CPU (86–153 µs a request against
// 264–524 µs, client and a bare server together), and on a 2-core machine the client's CPU is taken
// from the server it measures. At 500 polls a second fetch took 30–68 % of a core.
import { appendFileSync } from 'node:fs';
import { Agent, get } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

const TRACE = process.env.BENCH_POLL_TRACE;

export interface PollJob {
  base: string;
  headers: Record<string, string>;
  numbers: number[];
  rate: number;
  seconds: number;
}

export interface PollAnswer {
  latencies: number[];
  non_2xx: number;
  errors: number;
  sending_s: number;
  loop_delay_p99_ms: number;
  loop_delay_max_ms: number;
}

async function run(job: PollJob): Promise<PollAnswer> {
  const total = job.rate * job.seconds;
  const latencies: number[] = [];
  /** With BENCH_POLL_TRACE=<file>: each poll over the target (when answered, how long, which run), for timelines. */
  const slow: { at: number; ms: number; number: number }[] = [];
  const answers = { non_2xx: 0, errors: 0 };
  const inFlight = new Set<Promise<void>>();
  const agent = new Agent({ keepAlive: true });
  const poll = (number: number) => {
    const sent = performance.now();
    const answered = new Promise<void>((resolve) => {
      // Counted once: a request and its response can both report the same broken connection.
      let settled = false;
      const settle = (count: () => void) => {
        if (settled) return;
        settled = true;
        count();
        resolve();
      };
      const failed = () =>
        settle(() => {
          answers.errors += 1;
        });
      get(`${job.base}${number}`, { agent, headers: job.headers }, (res) => {
        res.on('error', failed);
        res.on('end', () =>
          settle(() => {
            const ms = performance.now() - sent;
            latencies.push(ms);
            if (TRACE && ms > 50) slow.push({ at: Date.now(), ms: Math.round(ms), number });
            if (res.statusCode !== 200) answers.non_2xx += 1;
          }),
        );
        res.resume();
      }).on('error', failed);
    }).finally(() => inFlight.delete(answered));
    inFlight.add(answered);
  };
  // This process's own delays: a late tick sends late, and an answer read late reads as slow.
  const lag = monitorEventLoopDelay({ resolution: 5 });
  lag.enable();
  const started = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) / 1000) * job.rate));
      for (; sent < due; sent++) poll(job.numbers[sent % job.numbers.length] ?? 0);
      if (sent < total) return;
      clearInterval(tick);
      resolve();
    }, 2);
  });
  const sending = (performance.now() - started) / 1000;
  await Promise.all(inFlight);
  lag.disable();
  agent.destroy();
  if (TRACE) appendFileSync(TRACE, `${JSON.stringify(slow)}\n`);
  return {
    latencies,
    ...answers,
    sending_s: sending,
    loop_delay_p99_ms: lag.percentile(99) / 1e6,
    loop_delay_max_ms: lag.max / 1e6,
  };
}

// Line 1: the job. Then `ready` is printed, and the polls start at the line `go`, so that this
// process's own start is not inside the measured time.
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const job = JSON.parse(String((await lines.next()).value)) as PollJob;
process.stdout.write('ready\n');
await lines.next();
process.stdout.write(`${JSON.stringify(await run(job))}\n`);
process.exit(0);
