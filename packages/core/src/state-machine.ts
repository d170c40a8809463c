import type { ExecutionState } from '@ccl/db';

/** The legal moves of an execution; terminal states have none. */
export const TRANSITIONS: Record<ExecutionState, readonly ExecutionState[]> = {
  PENDING: ['PLANNING', 'FAILED', 'CANCELLED'],
  PLANNING: ['RUNNING', 'FAILED', 'CANCELLED'],
  RUNNING: ['WAITING', 'COMPLETED', 'FAILED', 'CANCELLED'],
  WAITING: ['RUNNING', 'FAILED', 'CANCELLED'],
  COMPLETED: [],
  FAILED: [],
  CANCELLED: [],
};

export const TERMINAL: readonly ExecutionState[] = ['COMPLETED', 'FAILED', 'CANCELLED'];

export function isTerminal(state: ExecutionState): boolean {
  return TERMINAL.includes(state);
}

export function canTransition(from: ExecutionState, to: ExecutionState): boolean {
  return TRANSITIONS[from].includes(to);
}
