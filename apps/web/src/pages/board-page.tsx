import type { TaskDto } from '@ccl/contracts';
import { type DragEvent, type KeyboardEvent, useEffect, useMemo, useRef, useState } from 'react';
import { Empty, LoadError, Loading } from '../components/async-view.tsx';
import { BoardFilterBar } from '../components/board-filters.tsx';
import { BudgetLine } from '../components/budget-line.tsx';
import { Link } from '../components/link.tsx';
import { TaskCard } from '../components/task-card.tsx';
import { useToasts } from '../components/toasts.tsx';
import {
  type BoardColumn,
  type BoardFilters,
  boardColumns,
  type ColumnId,
  columnTitle,
  dropStartsExecution,
  filterOptions,
  groupByColumn,
  hiddenColumnCards,
  NO_FILTERS,
  neighbourColumn,
  upsertTask,
} from '../lib/board.ts';
import { loadProjects, loadTask, loadTasks, moveTask, rerunTask } from '../lib/board-api.ts';
import { useLiveBudget } from '../lib/live-budget.ts';
import { boardPath, navigate } from '../lib/router.ts';
import { useSession } from '../lib/session.tsx';
import { openEventStream } from '../lib/sse.ts';
import { isActive } from '../lib/states.ts';
import { useResource, useTick } from '../lib/use-resource.ts';

interface Grab {
  taskId: string;
  target: ColumnId;
}

export function BoardPage({ project }: { project: string | null }) {
  const toasts = useToasts();
  const { can } = useSession();
  const tasks = useResource(() => loadTasks(project), project ?? '');
  const projects = useResource(loadProjects);
  const [filters, setFilters] = useState<BoardFilters>(NO_FILTERS);
  const [grab, setGrab] = useState<Grab | null>(null);
  const [dragOver, setDragOver] = useState<ColumnId | null>(null);
  const [announcement, setAnnouncement] = useState('');
  const dragged = useRef<TaskDto | null>(null);
  const list = tasks.data ?? [];
  const anyActive = list.some((t) => t.latest_execution && isActive(t.latest_execution.state));
  const now = useTick(1000, anyActive);

  useLiveCards(project, tasks.setData, tasks.reload);

  // All projects at once: the standard five, since each project may name its own.
  const current = project ? projects.data?.find((p) => p.slug === project) : undefined;
  useLiveBudget(project, tasks.data, Boolean(current?.budget), projects.setData);
  const setting = current?.settings.columns;
  const columns = useMemo(() => boardColumns(project ? setting : undefined), [project, setting]);
  // A project's board waits for its column setting rather than flashing the standard five first.
  const columnsKnown = !project || !projects.loading || projects.data !== undefined;
  const groups = useMemo(() => groupByColumn(list, filters), [list, filters]);
  const hidden = useMemo(() => hiddenColumnCards(groups, columns), [groups, columns]);
  const options = useMemo(() => filterOptions(list), [list]);
  const titleOf = (id: ColumnId) => columnTitle(id, columns);

  /** Optimistic: the card moves at once and goes back if the server refuses. */
  const move = async (task: TaskDto, to: ColumnId) => {
    if (task.column === to) return;
    const before = task;
    tasks.setData((prev) => prev && upsertTask(prev, { ...task, column: to }));
    try {
      if (dropStartsExecution(task, to)) {
        await rerunTask(task.id);
        toasts.info(`Started a new run of “${task.title}”.`);
      } else {
        await moveTask(task.id, to);
      }
      const fresh = await loadTask(task.id);
      tasks.setData((prev) => prev && upsertTask(prev, fresh));
    } catch (err) {
      tasks.setData((prev) => prev && upsertTask(prev, before));
      toasts.error(`move “${task.title}” to ${titleOf(to)}`, err);
    }
  };

  const onHandleKey = (task: TaskDto, e: KeyboardEvent<HTMLButtonElement>) => {
    if (e.key === ' ' || e.key === 'Enter') {
      e.preventDefault();
      if (!grab || grab.taskId !== task.id) {
        setGrab({ taskId: task.id, target: task.column });
        setAnnouncement(
          `Picked up ${task.title} in ${titleOf(task.column)}. Use left and right arrows, then Space to drop.`,
        );
      } else {
        setGrab(null);
        setAnnouncement(`Dropped ${task.title} in ${titleOf(grab.target)}.`);
        void move(task, grab.target);
        // The card re-mounts in its new column; keep the keyboard user's focus on it.
        requestAnimationFrame(() =>
          document.querySelector<HTMLButtonElement>(`[data-task-id="${task.id}"] .grab`)?.focus(),
        );
      }
    } else if (grab?.taskId === task.id && (e.key === 'ArrowRight' || e.key === 'ArrowLeft')) {
      e.preventDefault();
      const target = neighbourColumn(grab.target, e.key === 'ArrowRight' ? 1 : -1, columns);
      setGrab({ ...grab, target });
      setAnnouncement(`${task.title}: over ${titleOf(target)}.`);
    } else if (grab?.taskId === task.id && e.key === 'Escape') {
      e.preventDefault();
      setGrab(null);
      setAnnouncement(`Move of ${task.title} cancelled.`);
    }
  };

  const onDrop = (e: DragEvent<HTMLElement>, column: ColumnId) => {
    e.preventDefault();
    setDragOver(null);
    const id = e.dataTransfer.getData('text/plain');
    const task = list.find((t) => t.id === id) ?? dragged.current;
    dragged.current = null;
    if (task) void move(task, column);
  };

  return (
    <section aria-labelledby="board-title">
      <div className="page-head">
        <h1 id="board-title">Board</h1>
        <label className="inline">
          Project
          <select
            value={project ?? ''}
            onChange={(e) => navigate(boardPath(e.target.value || null))}
            disabled={!projects.data}
          >
            <option value="">All projects</option>
            {projects.data?.map((p) => (
              <option key={p.id} value={p.slug}>
                {p.name}
              </option>
            ))}
            {project && !projects.data?.some((p) => p.slug === project) && (
              <option value={project}>{project}</option>
            )}
          </select>
        </label>
        {can('task:submit') && (
          <Link
            className="button primary"
            href={`/tasks/new${project ? `?project=${encodeURIComponent(project)}` : ''}`}
          >
            New task
          </Link>
        )}
      </div>
      {current?.budget && <BudgetLine budget={current.budget} />}
      <BoardFilterBar
        filters={filters}
        agents={options.agents}
        assignees={options.assignees}
        unassigned={options.unassigned}
        onChange={setFilters}
      />
      <p id="move-help" className="visually-hidden">
        Press Space to pick the card up, Left and Right arrows to choose a column, Space to drop it, Escape to
        cancel.
      </p>
      <p className="visually-hidden" aria-live="assertive">
        {announcement}
      </p>
      {tasks.loading && !tasks.data && <Loading what="cards" />}
      {tasks.error && <LoadError what="the board" error={tasks.error} onRetry={tasks.reload} />}
      {tasks.data && list.length === 0 && (
        <Empty>
          <p>No tasks here yet.</p>
          <p>
            <Link href="/tasks/new">Create a task</Link> or submit one through the CoderClaw runtime API; it
            appears here live.
          </p>
        </Empty>
      )}
      {tasks.data && columnsKnown && list.length > 0 && hidden.length > 0 && (
        <HiddenColumnsNote hidden={hidden} />
      )}
      {tasks.data && columnsKnown && list.length > 0 && (
        <div className="board" data-columns={columns.length}>
          {columns.map((col) => {
            const cards = groups[col.id];
            const target = grab?.target === col.id || dragOver === col.id;
            return (
              <section
                key={col.id}
                className={`column${target ? ' column-target' : ''}`}
                aria-labelledby={`col-${col.id}`}
                data-column={col.id}
                onDragOver={(e) => {
                  e.preventDefault();
                  e.dataTransfer.dropEffect = 'move';
                  setDragOver(col.id);
                }}
                onDragLeave={() => setDragOver((c) => (c === col.id ? null : c))}
                onDrop={(e) => onDrop(e, col.id)}
              >
                <h2 id={`col-${col.id}`}>
                  {col.title} <span className="count">{cards.length}</span>
                </h2>
                {cards.length === 0 ? (
                  <p className="column-empty">No cards</p>
                ) : (
                  <ul className="cards">
                    {cards.map((t) => (
                      <TaskCard
                        key={t.id}
                        task={t}
                        now={now}
                        grabbed={grab?.taskId === t.id}
                        onDragStart={(task) => {
                          dragged.current = task;
                        }}
                        onHandleKey={onHandleKey}
                      />
                    ))}
                  </ul>
                )}
              </section>
            );
          })}
        </div>
      )}
    </section>
  );
}

/**
 * Cards whose column this project's board hides (Admin → Projects): counted per column, and
 * reachable through a disclosure, so hiding a column never makes work disappear.
 */
function HiddenColumnsNote({ hidden }: { hidden: Array<BoardColumn & { cards: TaskDto[] }> }) {
  const total = hidden.reduce((n, c) => n + c.cards.length, 0);
  return (
    <details className="hidden-columns" role="note" data-testid="hidden-columns">
      <summary>
        {total} {total === 1 ? 'card is' : 'cards are'} in {hidden.length === 1 ? 'a column' : 'columns'} this
        board hides: {hidden.map((c) => `${c.title} (${c.cards.length})`).join(', ')}
      </summary>
      <ul>
        {hidden.flatMap((c) =>
          c.cards.map((t) => (
            <li key={t.id}>
              <Link href={`/tasks/${t.number}`}>
                #{t.number} {t.title}
              </Link>{' '}
              <span className="muted">in {c.title}</span>
            </li>
          )),
        )}
      </ul>
    </details>
  );
}

/**
 * Keeps cards live from /api/board/events: a change of a known card re-reads it, an unknown task
 * id (CoderClaw just submitted it) adds the card. After a reconnect the whole board is re-read,
 * since that stream has no replay.
 */
function useLiveCards(
  project: string | null,
  setData: (u: (prev: TaskDto[] | undefined) => TaskDto[] | undefined) => void,
  reload: () => void,
) {
  useEffect(() => {
    const pending = new Map<string, ReturnType<typeof setTimeout>>();
    let opened = 0;
    const refresh = (taskId: string) => {
      if (pending.has(taskId)) return;
      // Progress events come in bursts; one read per card per quarter second is plenty.
      pending.set(
        taskId,
        setTimeout(async () => {
          pending.delete(taskId);
          try {
            const task = await loadTask(taskId);
            if (project && task.project_slug !== project) return;
            setData((prev) => prev && upsertTask(prev, task));
          } catch {
            // Gone or not visible to us: nothing to show.
          }
        }, 250),
      );
    };
    const stream = openEventStream('/api/board/events', {
      onOpen: () => {
        if (opened++ > 0) reload();
      },
      onMessage: (msg) => {
        // `execution`: a run of the card changed; `task`: the card itself (moved, edited, claimed).
        if (msg.event !== 'execution' && msg.event !== 'task') return;
        const change = JSON.parse(msg.data) as { taskId?: string };
        if (change.taskId) refresh(change.taskId);
      },
    });
    return () => {
      stream.close();
      for (const t of pending.values()) clearTimeout(t);
    };
  }, [project, setData, reload]);
}
