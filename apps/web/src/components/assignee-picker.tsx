import type { TaskDto } from '@ccl/contracts';
import { useId, useState } from 'react';
import { assignTask, loadAssignees } from '../lib/board-api.ts';
import { useSession } from '../lib/session.tsx';
import { useResource } from '../lib/use-resource.ts';
import { useToasts } from './toasts.tsx';

/** The task page's assignee: a select of who can take the card, saved as soon as it changes. */
export function AssigneePicker({ task, onSaved }: { task: TaskDto; onSaved: (t: TaskDto) => void }) {
  const { can } = useSession();
  const toasts = useToasts();
  const id = useId();
  const [busy, setBusy] = useState(false);
  const allowed = can('task:submit');
  const people = useResource(
    () => (allowed ? loadAssignees(task.project_slug) : Promise.resolve([])),
    task.project_slug,
  );
  if (!allowed) return <>{task.assignee_id ?? 'Unassigned'}</>;

  const options = people.data ?? [];
  // Someone assigned earlier who can no longer be chosen (disabled, left the project) still shows.
  const current = task.assignee_id;
  const missing = current && !options.some((u) => u.id === current);
  const save = async (value: string) => {
    setBusy(true);
    try {
      const fresh = await assignTask(task.id, value || null);
      onSaved(fresh);
      toasts.info(fresh.assignee_id ? `Assigned to ${fresh.assignee_id}.` : 'Nobody is assigned now.');
    } catch (err) {
      toasts.error('change the assignee', err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <label htmlFor={id} className="visually-hidden">
        Assignee
      </label>
      <select
        id={id}
        value={current ?? ''}
        disabled={busy || people.loading}
        aria-busy={busy || people.loading}
        onChange={(e) => void save(e.target.value)}
      >
        <option value="">Unassigned</option>
        {missing && <option value={current}>{current}</option>}
        {options.map((u) => (
          <option key={u.id} value={u.id}>
            {u.name && u.name !== u.id ? `${u.name} (${u.id})` : u.id}
          </option>
        ))}
      </select>
      {people.error && <span className="hint"> Could not load who can be assigned: {people.error}</span>}
    </>
  );
}
