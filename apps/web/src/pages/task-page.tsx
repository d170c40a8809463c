import type { ExecutionDto, TaskDto } from '@ccl/contracts';
import { useState } from 'react';
import { AssigneePicker } from '../components/assignee-picker.tsx';
import { LoadError, Loading } from '../components/async-view.tsx';
import { ExecutionPanel } from '../components/execution-panel.tsx';
import { Link } from '../components/link.tsx';
import { PriorityPicker } from '../components/priority.tsx';
import { PullRequestLink } from '../components/pull-request-link.tsx';
import { StateBadge } from '../components/state-badge.tsx';
import { boardColumns, columnTitle } from '../lib/board.ts';
import { loadExecutions, loadProjects, loadTask } from '../lib/board-api.ts';
import { formatTime } from '../lib/format.ts';
import { boardPath } from '../lib/router.ts';
import { useResource } from '../lib/use-resource.ts';

export function TaskPage({ id }: { id: string }) {
  const data = useResource(async (): Promise<{ task: TaskDto; executions: ExecutionDto[] }> => {
    const [task, executions] = await Promise.all([loadTask(id), loadExecutions(id)]);
    return { task, executions };
  }, id);
  // Only for the project's own column names; the page works without them.
  const projects = useResource(() => loadProjects().catch(() => []));
  if (data.loading && !data.data) return <Loading what="the task" />;
  if (data.error || !data.data)
    return <LoadError what="the task" error={data.error ?? ''} onRetry={data.reload} />;
  const { task, executions } = data.data;
  const onRetried = (fresh: ExecutionDto) =>
    data.setData((prev) => prev && { ...prev, executions: [fresh, ...prev.executions] });
  const onTaskSaved = (fresh: TaskDto) => data.setData((prev) => prev && { ...prev, task: fresh });
  const columns = boardColumns(projects.data?.find((p) => p.slug === task.project_slug)?.settings.columns);
  const latest = executions[0];
  const context = latest ? Object.entries(latest.context).filter(([k]) => k !== 'project') : [];
  return (
    <section aria-labelledby="task-title" className="task-page">
      <nav aria-label="Breadcrumb" className="crumbs">
        <Link href={boardPath(task.project_slug)}>{task.project_slug}</Link> <span aria-hidden="true">›</span>{' '}
        {columnTitle(task.column, columns)}
      </nav>
      <h1 id="task-title">
        <span className="task-number" data-testid="task-number">
          #{task.number}
        </span>{' '}
        {task.title}
      </h1>
      <dl className="facts">
        <div>
          <dt>Project</dt>
          <dd>{task.project_slug}</dd>
        </div>
        <div>
          <dt>Column</dt>
          <dd>{columnTitle(task.column, columns)}</dd>
        </div>
        <div>
          <dt>Priority</dt>
          <dd>
            <PriorityPicker task={task} onSaved={onTaskSaved} />
          </dd>
        </div>
        <div>
          <dt>Assignee</dt>
          <dd>
            <AssigneePicker task={task} onSaved={onTaskSaved} />
          </dd>
        </div>
        <div>
          <dt>Created by</dt>
          <dd>{task.creator_id}</dd>
        </div>
        {task.pull_request && (
          <div>
            <dt>Pull request</dt>
            <dd>
              <PullRequestLink pr={task.pull_request} /> from <code>{task.pull_request.branch}</code>
            </dd>
          </div>
        )}
      </dl>
      <section>
        <h2>Description</h2>
        {task.description ? (
          <p className="prose">{task.description}</p>
        ) : (
          <p className="muted">No description.</p>
        )}
      </section>
      {latest && (
        <section>
          <h2>Prompt</h2>
          <pre className="prompt">{latest.prompt}</pre>
          <h2>Context</h2>
          {context.length ? (
            <dl className="facts">
              {context.map(([k, v]) => (
                <div key={k}>
                  <dt>{k}</dt>
                  <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
                </div>
              ))}
            </dl>
          ) : (
            <p className="muted">No context.</p>
          )}
        </section>
      )}
      <section>
        <h2>Executions</h2>
        {executions.length === 0 && (
          <p className="muted">Not run yet. Drag the card to In progress after giving it an agent.</p>
        )}
        {executions.map((e, i) =>
          i === 0 ? (
            <ExecutionPanel key={e.id} initial={e} onRetried={onRetried} />
          ) : (
            <EarlierRun key={e.id} execution={e} onRetried={onRetried} />
          ),
        )}
      </section>
    </section>
  );
}

/** An older run, folded; its panel (and its event stream) exists only while it is open. */
function EarlierRun({
  execution,
  onRetried,
}: {
  execution: ExecutionDto;
  onRetried: (e: ExecutionDto) => void;
}) {
  const [open, setOpen] = useState(false);
  return (
    <details className="earlier-run" onToggle={(e) => setOpen(e.currentTarget.open)}>
      <summary>
        Earlier run on {execution.agent_type} · <StateBadge state={execution.state} /> ·{' '}
        {formatTime(execution.created_at)}
      </summary>
      {open && <ExecutionPanel initial={execution} onRetried={onRetried} />}
    </details>
  );
}
