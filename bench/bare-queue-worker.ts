// The throughput baseline's worker, in a process of its own as our worker is: a bare BullMQ Worker
// whose processor does nothing. Args: <redis|postgres> <url> <queue> <prefix> <concurrency>
// <milestones>. It prints one line when ready, then `{"completed": n}` each time the number of
// finished jobs reaches one of the comma-separated milestones.
import { type BareBackend, bareQueue } from './bare-bullmq.ts';
import { stopWithParent } from './with-parent.ts';

const [backend, url, name, prefix, concurrency, milestones] = process.argv.slice(2);
if (!backend || !url || !name || !prefix)
  throw new Error('usage: <backend> <url> <queue> <prefix> <concurrency> <milestones>');
const marks = new Set((milestones ?? '').split(',').map(Number));
const { queue, worker: start } = bareQueue(backend as BareBackend, url, name, prefix);
let completed = 0;
const worker = start(Number(concurrency), () => {
  completed += 1;
  if (marks.has(completed)) process.stdout.write(`${JSON.stringify({ completed })}\n`);
});
await worker.waitUntilReady();
process.stdout.write(`${JSON.stringify({ port: 0, pid: process.pid })}\n`);
stopWithParent();
process.on('SIGTERM', async () => {
  await worker.close();
  await queue.close();
  process.exit(0);
});
