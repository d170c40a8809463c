import type { TaskDto } from '@ccl/contracts';
import { describe, expect, it } from 'vitest';
import {
  boardColumns,
  columnsSetting,
  columnTitle,
  dropStartsExecution,
  filterOptions,
  groupByColumn,
  hiddenColumnCards,
  NO_FILTERS,
  neighbourColumn,
  UNASSIGNED,
  upsertTask,
} from './board.ts';

let n = 0;
function task(over: Partial<TaskDto> & { state?: TaskDto['column'] | string; agent?: string } = {}): TaskDto {
  n++;
  const { state, agent, ...rest } = over;
  return {
    id: `t${n}`,
    number: n,
    priority: 'medium',
    agent_type: null,
    context: null,
    project_id: 'p',
    project_slug: 'demo',
    title: `task ${n}`,
    description: '',
    column: 'todo',
    creator_id: 'local',
    assignee_id: null,
    created_at: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(),
    updated_at: new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString(),
    latest_execution: state
      ? {
          id: `e${n}`,
          number: n,
          agent_type: agent ?? 'echo',
          state: state as 'running',
          created_at: new Date().toISOString(),
          finished_at: null,
          cost_usd: null,
          pr_url: null,
          claw_id: null,
          held_reason: null,
        }
      : null,
    pull_request: null,
    ...rest,
  };
}

describe('board grouping and filtering', () => {
  it('puts every card in its column, newest first', () => {
    const a = task({ column: 'todo' });
    const b = task({ column: 'todo' });
    const c = task({ column: 'done' });
    const g = groupByColumn([a, c, b], NO_FILTERS);
    expect(g.todo.map((t) => t.id)).toEqual([b.id, a.id]);
    expect(g.done.map((t) => t.id)).toEqual([c.id]);
    expect(g.backlog).toEqual([]);
    expect(g.in_progress).toEqual([]);
    expect(g.review).toEqual([]);
  });

  it('filters by agent, state, assignee and text (case-insensitive, description too)', () => {
    const claude = task({ state: 'running', agent: 'claude', title: 'Fix login' });
    const echo = task({ state: 'completed', agent: 'echo', assignee_id: 'ann', description: 'About LOGIN' });
    const none = task({ title: 'Plan sprint' });
    const all = [claude, echo, none];
    const ids = (f: Partial<typeof NO_FILTERS>) =>
      Object.values(groupByColumn(all, { ...NO_FILTERS, ...f }))
        .flat()
        .map((t) => t.id)
        .sort();
    expect(ids({ agent: 'claude' })).toEqual([claude.id]);
    expect(ids({ state: 'completed' })).toEqual([echo.id]);
    expect(ids({ assignee: 'ann' })).toEqual([echo.id]);
    expect(ids({ assignee: 'local' })).toEqual([]);
    expect(ids({ assignee: UNASSIGNED })).toEqual([claude.id, none.id].sort());
    expect(ids({ text: 'login' })).toEqual([claude.id, echo.id].sort());
    expect(ids({ text: '  ' })).toHaveLength(3);
    expect(ids({ text: 'login', agent: 'echo' })).toEqual([echo.id]);
    expect(filterOptions(all)).toEqual({ agents: ['claude', 'echo'], assignees: ['ann'], unassigned: true });
  });

  it('replaces a card by id or adds a new one in front', () => {
    const a = task();
    const b = task();
    expect(upsertTask([a], b).map((t) => t.id)).toEqual([b.id, a.id]);
    expect(upsertTask([a, b], { ...a, title: 'renamed' })[0]?.title).toBe('renamed');
  });

  it('moves by keyboard one column at a time, stopping at the ends', () => {
    expect(neighbourColumn('todo', 1)).toBe('in_progress');
    expect(neighbourColumn('backlog', -1)).toBe('backlog');
    expect(neighbourColumn('done', 1)).toBe('done');
    const shown = boardColumns([{ key: 'todo' }, { key: 'review' }]);
    expect(neighbourColumn('todo', 1, shown)).toBe('review');
    expect(neighbourColumn('review', 1, shown)).toBe('review');
  });

  it("shows a project's columns with its labels, and counts the cards of hidden ones", () => {
    expect(boardColumns(undefined).map((c) => c.title)).toEqual([
      'Backlog',
      'To do',
      'In progress',
      'Review',
      'Done',
    ]);
    const shown = boardColumns([{ key: 'todo', label: 'Ready' }, { key: 'done' }]);
    expect(shown).toEqual([
      { id: 'todo', title: 'Ready' },
      { id: 'done', title: 'Done' },
    ]);
    expect(columnTitle('todo', shown)).toBe('Ready');
    expect(columnTitle('review', shown)).toBe('Review');
    const cards = [task({ column: 'backlog' }), task({ column: 'backlog' }), task({ column: 'review' })];
    const hidden = hiddenColumnCards(groupByColumn([...cards, task({ column: 'todo' })], NO_FILTERS), shown);
    expect(hidden.map((c) => [c.id, c.cards.length])).toEqual([
      ['backlog', 2],
      ['review', 1],
    ]);
  });

  it('turns the admin form into a columns setting, the default being none', () => {
    const all = (over: Record<string, { shown?: boolean; label?: string }> = {}) =>
      boardColumns(undefined).map((c) => ({ id: c.id, shown: true, label: '', ...over[c.id] }));
    expect(columnsSetting(all())).toBeUndefined();
    expect(columnsSetting(all({ todo: { label: 'To do' } }))).toBeUndefined();
    expect(columnsSetting(all({ backlog: { shown: false }, todo: { label: ' Ready ' } }))).toEqual([
      { key: 'todo', label: 'Ready' },
      { key: 'in_progress' },
      { key: 'review' },
      { key: 'done' },
    ]);
    expect(columnsSetting(all({ todo: { shown: false, label: 'ignored' } }))?.map((c) => c.key)).toEqual([
      'backlog',
      'in_progress',
      'review',
      'done',
    ]);
  });

  it('starts a run only when a finished agent card lands on In progress', () => {
    expect(dropStartsExecution(task({ state: 'completed', column: 'review' }), 'in_progress')).toBe(true);
    expect(dropStartsExecution(task({ state: 'failed', column: 'todo' }), 'in_progress')).toBe(true);
    expect(dropStartsExecution(task({ state: 'running', column: 'review' }), 'in_progress')).toBe(false);
    expect(dropStartsExecution(task({ column: 'todo' }), 'in_progress')).toBe(false);
    expect(dropStartsExecution(task({ state: 'completed', column: 'todo' }), 'review')).toBe(false);
  });
});
