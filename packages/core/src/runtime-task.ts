import type { Prisma } from '@ccl/db';

/**
 * Which execution a runtime `task_id` means. In CoderClaw's session contract the submit answers a
 * `task_id` (the card's id) beside an `execution_uuid`, and the adapter polls that `task_id` until it
 * is terminal; terminal states never change again. So a `task_id` keeps meaning the execution it was
 * submitted with, which is the card's first (submitTask writes the card and it together): re-running
 * the card from the board makes new executions on the board's API, never a new answer to CoderClaw's
 * old poll. State poll, cancel and the poll's stand-in session all read through this.
 */
export const SUBMITTED_EXECUTION = {
  orderBy: [{ createdAt: 'asc' }, { number: 'asc' }],
  take: 1,
} satisfies Pick<Prisma.ExecutionFindManyArgs, 'orderBy' | 'take'>;
