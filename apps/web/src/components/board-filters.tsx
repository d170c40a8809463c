import type { ExecutionStateName } from '@ccl/contracts';
import { type BoardFilters, NO_FILTERS, UNASSIGNED } from '../lib/board.ts';
import { EXECUTION_STATE_NAMES, STATE_LOOK } from '../lib/states.ts';

interface Props {
  filters: BoardFilters;
  agents: string[];
  assignees: string[];
  /** Whether some card has no assignee, so "Unassigned" is worth offering. */
  unassigned: boolean;
  onChange: (f: BoardFilters) => void;
}

export function BoardFilterBar({ filters, agents, assignees, unassigned, onChange }: Props) {
  const set = (patch: Partial<BoardFilters>) => onChange({ ...filters, ...patch });
  const active = JSON.stringify(filters) !== JSON.stringify(NO_FILTERS);
  return (
    <fieldset className="filters">
      <legend className="visually-hidden">Filter cards</legend>
      <label>
        Search
        <input
          type="search"
          value={filters.text}
          placeholder="title or description"
          onChange={(e) => set({ text: e.target.value })}
        />
      </label>
      <label>
        Agent
        <select value={filters.agent} onChange={(e) => set({ agent: e.target.value })}>
          <option value="">any</option>
          {agents.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
      </label>
      <label>
        State
        <select
          value={filters.state}
          onChange={(e) => set({ state: e.target.value as ExecutionStateName | '' })}
        >
          <option value="">any</option>
          {EXECUTION_STATE_NAMES.map((s) => (
            <option key={s} value={s}>
              {STATE_LOOK[s].label}
            </option>
          ))}
        </select>
      </label>
      <label>
        Assignee
        <select value={filters.assignee} onChange={(e) => set({ assignee: e.target.value })}>
          <option value="">anyone</option>
          {(unassigned || filters.assignee === UNASSIGNED) && <option value={UNASSIGNED}>unassigned</option>}
          {assignees.map((a) => (
            <option key={a}>{a}</option>
          ))}
        </select>
      </label>
      {active && (
        <button type="button" className="link-button" onClick={() => onChange(NO_FILTERS)}>
          Clear filters
        </button>
      )}
    </fieldset>
  );
}
