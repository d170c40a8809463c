import { TASK_PRIORITIES, type TaskDto } from '@ccl/contracts';
import { useId, useState } from 'react';
import { setPriority } from '../lib/board-api.ts';
import { useSession } from '../lib/session.tsx';
import { useToasts } from './toasts.tsx';

type Priority = TaskDto['priority'];

/** A card's priority as a word (and a glyph), never colour alone; medium, the default, shows nothing. */
export function PriorityTag({ priority }: { priority: Priority }) {
  if (priority === 'medium') return null;
  return (
    <span className={`priority priority-${priority}`} data-testid="card-priority" data-priority={priority}>
      <span className="visually-hidden">Priority: </span>
      {priority === 'low' ? '↓ ' : '↑ '}
      {priority}
    </span>
  );
}

/** The task page's priority: a select, saved as soon as it changes. */
export function PriorityPicker({ task, onSaved }: { task: TaskDto; onSaved: (t: TaskDto) => void }) {
  const { can } = useSession();
  const toasts = useToasts();
  const id = useId();
  const [busy, setBusy] = useState(false);
  if (!can('task:submit')) return <>{task.priority}</>;
  const save = async (value: Priority) => {
    setBusy(true);
    try {
      const fresh = await setPriority(task.id, value);
      onSaved(fresh);
      toasts.info(`Priority is ${fresh.priority} now.`);
    } catch (err) {
      toasts.error('change the priority', err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <label htmlFor={id} className="visually-hidden">
        Priority
      </label>
      <PrioritySelect id={id} value={task.priority} disabled={busy} onChange={(value) => void save(value)} />
    </>
  );
}

export function PrioritySelect(props: {
  id?: string;
  name?: string;
  value?: Priority;
  defaultValue?: Priority;
  disabled?: boolean;
  onChange?: (value: Priority) => void;
}) {
  const { onChange, ...rest } = props;
  return (
    <select {...rest} aria-busy={props.disabled} onChange={(e) => onChange?.(e.target.value as Priority)}>
      {TASK_PRIORITIES.map((p) => (
        <option key={p} value={p}>
          {p}
        </option>
      ))}
    </select>
  );
}
