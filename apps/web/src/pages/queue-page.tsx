import type { QueueStatsDto, WorkerHeartbeatDto } from '@ccl/contracts';
import { useEffect } from 'react';
import { Empty, LoadError, Loading } from '../components/async-view.tsx';
import { Link } from '../components/link.tsx';
import { StateBadge } from '../components/state-badge.tsx';
import { api } from '../lib/api.ts';
import { formatDuration } from '../lib/format.ts';
import { EXECUTION_STATE_NAMES, STATE_LOOK } from '../lib/states.ts';
import { useResource, useTick } from '../lib/use-resource.ts';

const REFRESH_MS = 5000;

export function QueuePage() {
  const stats = useResource(() => api.get<QueueStatsDto>('/api/queue/stats'));
  const now = useTick(1000);
  const { reload } = stats;
  useEffect(() => {
    const t = setInterval(reload, REFRESH_MS);
    return () => clearInterval(t);
  }, [reload]);
  const data = stats.data;
  return (
    <section aria-labelledby="queue-title">
      <div className="page-head">
        <h1 id="queue-title">Queue</h1>
        <span className="muted">Read-only; refreshes every {REFRESH_MS / 1000} s.</span>
      </div>
      {!data && stats.loading && <Loading what="queue numbers" />}
      {stats.error && <LoadError what="queue numbers" error={stats.error} onRetry={reload} />}
      {data && (
        <>
          <h2>Jobs</h2>
          {data.queues.length === 0 ? (
            <Empty>This server's queue reports no counts.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Jobs per queue</caption>
                <thead>
                  <tr>
                    <th scope="col">Queue</th>
                    <th scope="col">Backend</th>
                    <th scope="col">Waiting</th>
                    <th scope="col">Active</th>
                    <th scope="col">Delayed</th>
                    <th scope="col">Failed</th>
                    <th scope="col">Completed</th>
                  </tr>
                </thead>
                <tbody>
                  {data.queues.map((q) => (
                    <tr key={q.name}>
                      <th scope="row">{q.name}</th>
                      <td>{q.backend}</td>
                      <td>{q.waiting}</td>
                      <td>{q.active}</td>
                      <td>{q.delayed}</td>
                      <td>{q.failed}</td>
                      <td>{q.completed}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <h2>Workers and their heartbeat</h2>
          <WorkersTable workers={data.workers} interval={data.heartbeat_interval_s} now={now} />
          <h2>Executions by state</h2>
          <dl className="facts">
            {EXECUTION_STATE_NAMES.map((s) => (
              <div key={s}>
                <dt>{STATE_LOOK[s].label}</dt>
                <dd>{data.executions[s] ?? 0}</dd>
              </div>
            ))}
          </dl>
          <h2>Active runs and their heartbeat</h2>
          {data.active_runs.length === 0 ? (
            <Empty>Nothing is running.</Empty>
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="visually-hidden">Active runs</caption>
                <thead>
                  <tr>
                    <th scope="col">Run</th>
                    <th scope="col">Agent</th>
                    <th scope="col">State</th>
                    <th scope="col">Last event</th>
                  </tr>
                </thead>
                <tbody>
                  {data.active_runs.map((r) => (
                    <tr key={r.execution_id}>
                      <td>
                        <Link href={`/tasks/${r.task_id}`}>{r.execution_id.slice(0, 8)}</Link>
                      </td>
                      <td>{r.agent_type}</td>
                      <td>
                        <StateBadge state={r.state} />
                      </td>
                      <td>
                        {r.last_event_at ? `${formatDuration(now - Date.parse(r.last_event_at))} ago` : '—'}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

function WorkersTable({
  workers,
  interval,
  now,
}: {
  workers: WorkerHeartbeatDto[];
  interval: number;
  now: number;
}) {
  if (workers.length === 0) {
    return (
      <Empty>
        No worker has reported in, so nothing runs: start one with <code>clawlink start</code> (or{' '}
        <code>--role worker</code>).
      </Empty>
    );
  }
  return (
    <div className="table-wrap">
      <table data-testid="workers-table">
        <caption className="visually-hidden">Worker processes</caption>
        <thead>
          <tr>
            <th scope="col">Host</th>
            <th scope="col">PID</th>
            <th scope="col">Role</th>
            <th scope="col">Queue</th>
            <th scope="col">Running</th>
            <th scope="col">Last seen</th>
            <th scope="col">Status</th>
          </tr>
        </thead>
        <tbody>
          {workers.map((w) => (
            <tr key={w.id} data-worker={w.id} className={w.stale ? 'worker-stale' : undefined}>
              <th scope="row">{w.host}</th>
              <td>{w.pid}</td>
              <td>{w.role}</td>
              <td>{w.queue}</td>
              <td>
                {w.running} / {w.concurrency}
              </td>
              <td>{formatDuration(now - Date.parse(w.last_seen_at))} ago</td>
              <td>
                {w.stale ? (
                  <span className="status-stale">
                    <span aria-hidden="true">⚠ </span>Stale: no heartbeat for over {interval * 3} s
                  </span>
                ) : (
                  <span className="status-live">
                    <span aria-hidden="true">✓ </span>Live
                  </span>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
