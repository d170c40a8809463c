import type { ExecutionStateName } from '@ccl/contracts';

export interface StateLook {
  label: string;
  /** A distinct glyph per state, so the badge never relies on colour alone. */
  icon: string;
  active: boolean;
}

export const STATE_LOOK: Record<ExecutionStateName, StateLook> = {
  pending: { label: 'PENDING', icon: '○', active: true },
  planning: { label: 'PLANNING', icon: '◐', active: true },
  running: { label: 'RUNNING', icon: '▶', active: true },
  waiting: { label: 'WAITING', icon: '‖', active: true },
  completed: { label: 'COMPLETED', icon: '✓', active: false },
  failed: { label: 'FAILED', icon: '✕', active: false },
  cancelled: { label: 'CANCELLED', icon: '⊘', active: false },
};

export const EXECUTION_STATE_NAMES = Object.keys(STATE_LOOK) as ExecutionStateName[];

export function isActive(state: ExecutionStateName): boolean {
  return STATE_LOOK[state].active;
}
