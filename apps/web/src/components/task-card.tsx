import type { TaskDto } from '@ccl/contracts';
import type { KeyboardEvent } from 'react';
import { elapsedMs, formatCost, formatDuration } from '../lib/format.ts';
import { Link } from './link.tsx';
import { PriorityTag } from './priority.tsx';
import { PullRequestLink } from './pull-request-link.tsx';
import { StateBadge } from './state-badge.tsx';

interface Props {
  task: TaskDto;
  now: number;
  grabbed: boolean;
  onDragStart: (task: TaskDto) => void;
  onHandleKey: (task: TaskDto, e: KeyboardEvent<HTMLButtonElement>) => void;
}

export function TaskCard({ task, now, grabbed, onDragStart, onHandleKey }: Props) {
  const exec = task.latest_execution;
  return (
    <li
      className={`card${grabbed ? ' card-grabbed' : ''}`}
      draggable
      data-task-id={task.id}
      data-testid="task-card"
      onDragStart={(e) => {
        e.dataTransfer.setData('text/plain', task.id);
        e.dataTransfer.effectAllowed = 'move';
        onDragStart(task);
      }}
    >
      <div className="card-head">
        <Link href={`/tasks/${task.number}`} className="card-title">
          <span className="task-number" data-testid="task-number">
            #{task.number}
          </span>{' '}
          {task.title}
        </Link>
        <button
          type="button"
          className="icon-button grab"
          aria-label={`Move ${task.title}`}
          aria-describedby="move-help"
          aria-pressed={grabbed}
          onKeyDown={(e) => onHandleKey(task, e)}
        >
          <span aria-hidden="true">⠿</span>
        </button>
      </div>
      <div className="card-meta">
        <StateBadge state={exec?.state ?? null} />
        <PriorityTag priority={task.priority} />
        {exec && <span className="agent">{exec.agent_type}</span>}
        {exec?.claw_id != null && (
          <span className="claw" data-testid="card-claw" title="The CoderClaw instance that started this run">
            claw #{exec.claw_id}
          </span>
        )}
        {task.assignee_id && (
          <span className="assignee" data-testid="card-assignee">
            <span className="visually-hidden">Assigned to </span>
            <span aria-hidden="true">@</span>
            {task.assignee_id}
          </span>
        )}
      </div>
      {exec?.state === 'pending' && exec.held_reason && (
        <p className="card-held" data-testid="card-held">
          Waiting: {exec.held_reason}
        </p>
      )}
      {(exec || task.pull_request) && (
        <dl className="card-facts">
          {exec && (
            <>
              <div>
                <dt>Time</dt>
                <dd>{formatDuration(elapsedMs(exec.created_at, exec.finished_at, now))}</dd>
              </div>
              <div>
                <dt>Cost</dt>
                <dd>{formatCost(exec.cost_usd)}</dd>
              </div>
            </>
          )}
          {task.pull_request ? (
            <div>
              <dt className="visually-hidden">Pull request</dt>
              <dd>
                <PullRequestLink pr={task.pull_request} />
              </dd>
            </div>
          ) : (
            exec?.pr_url && (
              <div>
                <dt>PR</dt>
                <dd>
                  <a href={exec.pr_url} target="_blank" rel="noopener noreferrer">
                    pull request
                  </a>
                </dd>
              </div>
            )
          )}
        </dl>
      )}
    </li>
  );
}
