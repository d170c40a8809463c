import type { ExecutionStateName } from '@ccl/contracts';
import { STATE_LOOK } from '../lib/states.ts';

/** Text, a glyph and a border style per state: readable without telling colours apart. */
export function StateBadge({ state }: { state: ExecutionStateName | null }) {
  if (!state) {
    return (
      <span className="badge badge-none" data-state="none">
        <span aria-hidden="true">·</span> NOT STARTED
      </span>
    );
  }
  const look = STATE_LOOK[state];
  return (
    <span className={`badge badge-${state}`} data-state={state}>
      <span aria-hidden="true" className="badge-icon">
        {look.icon}
      </span>{' '}
      {look.label}
    </span>
  );
}
