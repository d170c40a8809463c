import type { JobState, JobType } from 'bullmq';
import type { ExecutionJobCounts, ExecutionJobState } from './types.ts';

/** Every BullMQ state our counts and states are built from. */
export const COUNTED_JOB_TYPES: JobType[] = [
  'waiting',
  'prioritized',
  'active',
  'delayed',
  'failed',
  'completed',
];

/** Jobs in these states have not been taken by a worker, so removing them is safe. */
export function isUntaken(state: JobState | 'unknown'): boolean {
  return state === 'waiting' || state === 'prioritized' || state === 'delayed';
}

/** Prioritized and waiting-children jobs are waiting too, as far as a reconciler cares. */
export function toExecutionJobState(state: JobState | 'unknown'): ExecutionJobState {
  switch (state) {
    case 'unknown':
      return 'absent';
    case 'prioritized':
    case 'waiting-children':
      return 'waiting';
    default:
      return state;
  }
}

export function toExecutionJobCounts(counts: Record<string, number>): ExecutionJobCounts {
  const count = (type: string) => counts[type] ?? 0;
  return {
    waiting: count('waiting') + count('prioritized'),
    active: count('active'),
    delayed: count('delayed'),
    failed: count('failed'),
    completed: count('completed'),
  };
}
