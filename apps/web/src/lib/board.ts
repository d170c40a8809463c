import type { ExecutionStateName, ProjectDto, TaskDto } from '@ccl/contracts';

export type ColumnId = TaskDto['column'];
export interface BoardColumn {
  id: ColumnId;
  title: string;
}

export const COLUMNS: readonly BoardColumn[] = [
  { id: 'backlog', title: 'Backlog' },
  { id: 'todo', title: 'To do' },
  { id: 'in_progress', title: 'In progress' },
  { id: 'review', title: 'Review' },
  { id: 'done', title: 'Done' },
];

type ColumnsSetting = ProjectDto['settings']['columns'];

/** The columns a project's board shows, with its labels; without a setting, all five. */
export function boardColumns(setting: ColumnsSetting): BoardColumn[] {
  if (!setting?.length) return [...COLUMNS];
  return setting.map((c) => ({ id: c.key, title: c.label ?? defaultTitle(c.key) }));
}

function defaultTitle(id: ColumnId): string {
  return COLUMNS.find((c) => c.id === id)?.title ?? id;
}

/** A column's name on this board: the project's label, else the standard title. */
export function columnTitle(id: ColumnId, columns: readonly BoardColumn[] = COLUMNS): string {
  return columns.find((c) => c.id === id)?.title ?? defaultTitle(id);
}

/**
 * Cards the board cannot show because their column is hidden, per column (standard titles,
 * since a hidden column has no label on this board). They stay where they are: hiding a column
 * changes the view, never the cards.
 */
export function hiddenColumnCards(
  groups: Record<ColumnId, TaskDto[]>,
  shown: readonly BoardColumn[],
): Array<BoardColumn & { cards: TaskDto[] }> {
  return COLUMNS.filter((c) => !shown.some((s) => s.id === c.id) && groups[c.id].length > 0).map((c) => ({
    ...c,
    cards: groups[c.id],
  }));
}

export interface BoardFilters {
  agent: string;
  state: ExecutionStateName | '';
  assignee: string;
  text: string;
}

export const NO_FILTERS: BoardFilters = { agent: '', state: '', assignee: '', text: '' };
/** The assignee filter's value for cards nobody is assigned to (no user id starts with a space). */
export const UNASSIGNED = ' unassigned';

export function matchesFilters(task: TaskDto, f: BoardFilters): boolean {
  const exec = task.latest_execution;
  if (f.agent && exec?.agent_type !== f.agent) return false;
  if (f.state && exec?.state !== f.state) return false;
  if (f.assignee && (task.assignee_id ?? UNASSIGNED) !== f.assignee) return false;
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

/** The choices the filter selects offer: the agents and assignees that appear on the board. */
export function filterOptions(tasks: readonly TaskDto[]) {
  const agents = new Set<string>();
  const assignees = new Set<string>();
  let unassigned = false;
  for (const t of tasks) {
    if (t.latest_execution) agents.add(t.latest_execution.agent_type);
    if (t.assignee_id) assignees.add(t.assignee_id);
    else unassigned = true;
  }
  return { agents: [...agents].sort(), assignees: [...assignees].sort(), unassigned };
}

/** Inserts or replaces a card by id (a live update or a server answer). */
export function upsertTask(tasks: readonly TaskDto[], task: TaskDto): TaskDto[] {
  const i = tasks.findIndex((t) => t.id === task.id);
  if (i < 0) return [task, ...tasks];
  const next = tasks.slice();
  next[i] = task;
  return next;
}

/** The column a keyboard move by `delta` lands on among the shown ones, clamped to the board's ends. */
export function neighbourColumn(
  from: ColumnId,
  delta: number,
  columns: readonly BoardColumn[] = COLUMNS,
): ColumnId {
  const i = columns.findIndex((c) => c.id === from);
  const j = Math.min(columns.length - 1, Math.max(0, i + delta));
  return (columns[j] ?? columns[0])?.id ?? from;
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

/**
 * The `columns` setting for what the Admin form chose: the shown columns in board order, each with
 * its label when one was given (a label equal to the standard title is dropped). All five shown
 * without labels is the default, stored as no setting at all.
 */
export function columnsSetting(
  choices: ReadonlyArray<{ id: ColumnId; shown: boolean; label: string }>,
): ColumnsSetting {
  const shown = COLUMNS.flatMap((c) => {
    const choice = choices.find((x) => x.id === c.id);
    if (!choice?.shown) return [];
    const label = choice.label.trim();
    return [label && label !== c.title ? { key: c.id, label } : { key: c.id }];
  });
  if (shown.length === COLUMNS.length && shown.every((c) => !('label' in c))) return undefined;
  return shown;
}
