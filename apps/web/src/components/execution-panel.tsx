import type { ExecutionDto } from '@ccl/contracts';
import { useCallback, useMemo, useState } from 'react';
import { api } from '../lib/api.ts';
import { rerunTask } from '../lib/board-api.ts';
import { elapsedMs, formatCost, formatDuration, formatTime } from '../lib/format.ts';
import { useSession } from '../lib/session.tsx';
import { isActive } from '../lib/states.ts';
import { buildTimeline } from '../lib/timeline.ts';
import { useExecutionEvents } from '../lib/use-execution-events.ts';
import { useTick } from '../lib/use-resource.ts';
import { DiffView } from './diff-view.tsx';
import { EventLog } from './event-log.tsx';
import { StateBadge } from './state-badge.tsx';
import { useToasts } from './toasts.tsx';

interface Props {
  initial: ExecutionDto;
  onRetried: (e: ExecutionDto) => void;
}

const num = (v: unknown) => (typeof v === 'number' ? v : null);
const text = (v: unknown) => (typeof v === 'string' ? v : null);

export function ExecutionPanel({ initial, onRetried }: Props) {
  const toasts = useToasts();
  const { can } = useSession();
  const [exec, setExec] = useState(initial);
  const [busy, setBusy] = useState<null | 'cancel' | 'approve' | 'deny' | 'retry'>(null);
  const [cancelRequested, setCancelRequested] = useState(false);
  const refresh = useCallback(() => {
    api.get<ExecutionDto>(`/api/executions/${initial.id}`).then(setExec, () => undefined);
  }, [initial.id]);
  const live = useExecutionEvents(initial.id, refresh);
  const timeline = useMemo(() => buildTimeline(live.events), [live.events]);
  const active = isActive(exec.state);
  const now = useTick(1000, active);

  const plan = text(exec.meta.plan) ?? timeline.plan;
  const diff = text(exec.meta.diff) ?? timeline.diff;
  const prUrl = text(exec.meta.pr_url);
  const approval = exec.state === 'waiting' ? exec.pending_approval : null;

  const decide = async (approved: boolean) => {
    const before = exec;
    setBusy(approved ? 'approve' : 'deny');
    setExec({ ...exec, state: 'running', pending_approval: null });
    try {
      setExec(await api.post<ExecutionDto>(`/api/executions/${exec.id}/${approved ? 'approve' : 'deny'}`));
    } catch (err) {
      setExec(before);
      toasts.error(approved ? 'approve the request' : 'deny the request', err);
    } finally {
      setBusy(null);
    }
  };

  const cancel = async () => {
    setBusy('cancel');
    setCancelRequested(true);
    try {
      const res = await api.post<{ success: boolean; execution: ExecutionDto }>(
        `/api/executions/${exec.id}/cancel`,
      );
      setExec(res.execution);
      if (!res.success) toasts.info('The execution had already finished; nothing to cancel.');
    } catch (err) {
      setCancelRequested(false);
      toasts.error('cancel the execution', err);
    } finally {
      setBusy(null);
    }
  };

  const retry = async () => {
    setBusy('retry');
    try {
      onRetried(await rerunTask(exec.task_id, exec));
    } catch (err) {
      toasts.error('start a new run', err);
    } finally {
      setBusy(null);
    }
  };

  const started = exec.started_at ?? exec.created_at;
  return (
    <article className="execution" aria-labelledby={`exec-${exec.id}`} data-execution-id={exec.id}>
      <header className="execution-head">
        <h3 id={`exec-${exec.id}`}>
          Run on {exec.agent_type}
          {exec.requested_agent !== exec.agent_type ? ` (asked: ${exec.requested_agent})` : ''}
        </h3>
        <StateBadge state={exec.state} />
        <span className="muted">
          {formatTime(exec.created_at)} · {formatDuration(elapsedMs(started, exec.finished_at, now))}
        </span>
        <div className="actions">
          {active && can('task:cancel') && (
            <button type="button" onClick={cancel} disabled={busy !== null || cancelRequested}>
              {cancelRequested ? 'Cancelling…' : 'Cancel'}
            </button>
          )}
          {!active && can('task:submit') && (
            <button type="button" onClick={retry} disabled={busy !== null}>
              {busy === 'retry' ? 'Starting…' : 'Retry'}
            </button>
          )}
          {prUrl && (
            <a className="button" href={prUrl} target="_blank" rel="noreferrer">
              Pull request
            </a>
          )}
        </div>
      </header>
      {live.reconnects > 0 && active && (
        <p className="muted" role="status">
          Connection dropped and resumed {live.reconnects}×; no events were lost.
        </p>
      )}
      {live.error && (
        <p className="error-text" role="alert">
          The live log stopped: {live.error}. Reload the page to try again.
        </p>
      )}
      {exec.error && (
        <p className="error-text" role="alert">
          <span aria-hidden="true">✕ </span>
          {exec.error}
        </p>
      )}
      {approval && (
        <section className="approval" aria-labelledby={`approval-${exec.id}`}>
          <h4 id={`approval-${exec.id}`}>
            <span aria-hidden="true">‖ </span>Approval needed
          </h4>
          <p>{text(approval.description) ?? 'The agent asks to continue.'}</p>
          {approval.details !== undefined && <pre>{JSON.stringify(approval.details, null, 2)}</pre>}
          {can('task:approve') ? (
            <div className="actions">
              <button type="button" className="primary" onClick={() => decide(true)} disabled={busy !== null}>
                Approve
              </button>
              <button type="button" className="danger" onClick={() => decide(false)} disabled={busy !== null}>
                Deny
              </button>
            </div>
          ) : (
            <p className="muted">Someone with the task:approve permission decides.</p>
          )}
        </section>
      )}
      <UsageFacts exec={exec} />
      {exec.result !== null && exec.result !== undefined && (
        <section>
          <h4>Result</h4>
          <pre className="result">
            {typeof exec.result === 'string' ? exec.result : JSON.stringify(exec.result, null, 2)}
          </pre>
        </section>
      )}
      {plan && (
        <details className="plan">
          <summary>Plan</summary>
          <pre>{plan}</pre>
        </details>
      )}
      <section>
        <h4>Log</h4>
        <EventLog items={timeline.items} live={active && !live.ended} />
      </section>
      {diff && (
        <section>
          <h4>Changes</h4>
          <DiffView diff={diff} />
        </section>
      )}
    </article>
  );
}

function UsageFacts({ exec }: { exec: ExecutionDto }) {
  const u = exec.usage;
  const input = num(u.input_tokens);
  const output = num(u.output_tokens);
  return (
    <dl className="facts">
      <div>
        <dt>Tokens in</dt>
        <dd>{input ?? '—'}</dd>
      </div>
      <div>
        <dt>Tokens out</dt>
        <dd>{output ?? '—'}</dd>
      </div>
      <div>
        <dt>Cost</dt>
        <dd>{formatCost(num(u.cost_usd))}</dd>
      </div>
      <div>
        <dt>Model</dt>
        <dd>{text(u.model) ?? text(exec.meta.model) ?? text(exec.context.model) ?? '—'}</dd>
      </div>
      {exec.skill && (
        <div>
          <dt>Skill</dt>
          <dd>{exec.skill}</dd>
        </div>
      )}
      <div>
        <dt>Attempts</dt>
        <dd>{exec.attempts}</dd>
      </div>
    </dl>
  );
}
