/**
 * A worker process for the stalled-job test: it takes one job, tells the parent, and never
 * finishes, so the parent can SIGKILL it mid-job like a crashed machine.
 */
import { createExecutionQueue } from '../execution-queue.ts';
import type { ExecutionQueueOptions } from '../types.ts';

const [optionsJson] = process.argv.slice(2);
if (!optionsJson || !process.send) throw new Error('usage: fork with IPC and the queue options as JSON');
const send = process.send.bind(process);
const options: ExecutionQueueOptions = JSON.parse(optionsJson);

createExecutionQueue(options).createWorker({
  concurrency: 1,
  handler: (executionId) => {
    send({ started: executionId });
    return new Promise<void>(() => {});
  },
});
