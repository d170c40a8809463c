import type { ExecutionStateName, TaskDto } from '@ccl/contracts';

export type ColumnId = TaskDto['column'];

export const COLUMNS: ReadonlyArray<{ id: ColumnId; title: string }> = [
  { id: 'backlog', title: 'Backlog' },
  { id: 'todo', title: 'To do' },
  { id: 'in_progress', title: 'In progress' },
  { id: 'review', title: 'Review' },
  { id: 'done', title: 'Done' },
];

export function columnTitle(id: ColumnId): string {
  return COLUMNS.find((c) => c.id === id)?.title ?? id;
}

export interface BoardFilters {
  agent: string;
  state: ExecutionStateName | '';
  assignee: string;
  text: string;
}

export const NO_FILTERS: BoardFilters = { agent: '', state: '', assignee: '', text: '' };

export function matchesFilters(task: TaskDto, f: BoardFilters): boolean {
  const exec = task.latest_execution;
  if (f.agent && exec?.agent_type !== f.agent) return false;
  if (f.state && exec?.state !== f.state) return false;
  if (f.assignee && task.creator_id !== f.assignee) return false;
  const text = f.text.trim().toLowerCase();
  if (text && !`${task.title}\n${task.description}`.toLowerCase().includes(text)) return false;
  return true;
}

/** Cards per column, newest first, after the filters. */
export function groupByColumn(tasks: readonly TaskDto[], f: BoardFilters): Record<ColumnId, TaskDto[]> {
  const groups = Object.fromEntries(COLUMNS.map((c) => [c.id, [] as TaskDto[]])) as Record<
    ColumnId,
    TaskDto[]
  >;
  for (const task of tasks) {
    if (matchesFilters(task, f)) groups[task.column].push(task);
  }
  for (const list of Object.values(groups)) list.sort((a, b) => b.created_at.localeCompare(a.created_at));
  return groups;
}

/** The choices the filter selects offer: the agents and people that appear on the board. */
export function filterOptions(tasks: readonly TaskDto[]) {
  const agents = new Set<string>();
  const assignees = new Set<string>();
  for (const t of tasks) {
    if (t.latest_execution) agents.add(t.latest_execution.agent_type);
    assignees.add(t.creator_id);
  }
  return { agents: [...agents].sort(), assignees: [...assignees].sort() };
}

/** Inserts or replaces a card by id (a live update or a server answer). */
export function upsertTask(tasks: readonly TaskDto[], task: TaskDto): TaskDto[] {
  const i = tasks.findIndex((t) => t.id === task.id);
  if (i < 0) return [task, ...tasks];
  const next = tasks.slice();
  next[i] = task;
  return next;
}

/** The column a keyboard move by `delta` lands on, clamped to the board's ends. */
export function neighbourColumn(from: ColumnId, delta: number): ColumnId {
  const i = COLUMNS.findIndex((c) => c.id === from);
  const j = Math.min(COLUMNS.length - 1, Math.max(0, i + delta));
  return (COLUMNS[j] ?? COLUMNS[0])?.id ?? from;
}

/**
 * Dropping a card on In progress runs it again when it has an agent (a previous
 * execution) and nothing is running now; otherwise the drop only moves the card.
 */
export function dropStartsExecution(task: TaskDto, to: ColumnId): boolean {
  const exec = task.latest_execution;
  if (to !== 'in_progress' || task.column === 'in_progress' || !exec) return false;
  return exec.state === 'completed' || exec.state === 'failed' || exec.state === 'cancelled';
}
