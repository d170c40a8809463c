import type { AssigneeDto, ExecutionDto, ProjectDto, TaskDto } from '@ccl/contracts';
import { api, query } from './api.ts';
import type { ColumnId } from './board.ts';

type TaskPage = { items: TaskDto[]; next_cursor: string | null };

const MAX_PAGES = 10;

/** Every card of a project (or of all projects), following the cursor. */
export async function loadTasks(project: string | null): Promise<TaskDto[]> {
  const all: TaskDto[] = [];
  let cursor: string | null = null;
  for (let i = 0; i < MAX_PAGES; i++) {
    const page: TaskPage = await api.get(`/api/tasks${query({ project, limit: 200, cursor })}`);
    all.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return all;
}

export const loadProjects = () => api.get<ProjectDto[]>('/api/projects');
export const loadTask = (id: string) => api.get<TaskDto>(`/api/tasks/${id}`);
export const loadExecutions = (taskId: string) => api.get<ExecutionDto[]>(`/api/tasks/${taskId}/executions`);

/** Runs the task again on the agent, prompt and settings of its latest execution. */
export async function rerunTask(taskId: string, from?: ExecutionDto): Promise<ExecutionDto> {
  const previous = from ?? (await loadExecutions(taskId))[0];
  if (!previous) throw new Error('this card has no agent yet: open it and start a run');
  const { project: _project, ...context } = previous.context;
  return api.post<ExecutionDto>(`/api/tasks/${taskId}/executions`, {
    prompt: previous.prompt,
    agent_type: previous.requested_agent,
    context,
  });
}

export const moveTask = (taskId: string, column: ColumnId) =>
  api.patch<TaskDto>(`/api/tasks/${taskId}`, { column });

export const loadAssignees = (project: string) =>
  api.get<AssigneeDto[]>(`/api/projects/${encodeURIComponent(project)}/assignees`);

export const assignTask = (taskId: string, assigneeId: string | null) =>
  api.patch<TaskDto>(`/api/tasks/${taskId}`, { assignee_id: assigneeId });

export const setPriority = (taskId: string, priority: TaskDto['priority']) =>
  api.patch<TaskDto>(`/api/tasks/${taskId}`, { priority });
