import type { AgentInfoDto, AgentStatsPageDto } from '@ccl/contracts';
import { Empty, LoadError, Loading } from '../components/async-view.tsx';
import { api } from '../lib/api.ts';
import { formatCost, formatTime } from '../lib/format.ts';
import { useResource } from '../lib/use-resource.ts';
import { reasonOf } from './new-task-page.tsx';

const DAYS = 30;

function modelsOf(agent: AgentInfoDto): string {
  const m = agent.metadata ?? {};
  const list = Array.isArray(m.models) ? m.models.map(String) : [];
  if (typeof m.model === 'string' && !list.includes(m.model)) list.unshift(m.model);
  return list.length ? list.join(', ') : '—';
}

export function AgentsPage() {
  const data = useResource(async () => {
    const [agents, stats] = await Promise.all([
      api.get<AgentInfoDto[]>('/api/runtime/agents'),
      api.get<AgentStatsPageDto>(`/api/agents/stats?days=${DAYS}`),
    ]);
    return { agents, stats };
  });
  return (
    <section aria-labelledby="agents-title">
      <div className="page-head">
        <h1 id="agents-title">Agents</h1>
        <button type="button" onClick={data.reload} disabled={data.loading}>
          Check again
        </button>
      </div>
      {data.loading && !data.data && <Loading what="agents" />}
      {data.error && <LoadError what="agents" error={data.error} onRetry={data.reload} />}
      {data.data && data.data.agents.length === 0 && (
        <Empty>No runtimes are configured on this server.</Empty>
      )}
      {data.data && (
        <ul className="stat-grid" aria-label="Runtimes">
          {data.data.agents.map((a) => {
            const s = data.data?.stats.agents.find((x) => x.agent_type === a.agent_type);
            return (
              <li key={a.agent_type} className="stat-card" data-agent={a.agent_type}>
                <h2>
                  {a.name}
                  {a.available ? (
                    <span className="ok">
                      <span aria-hidden="true">✓ </span>available
                    </span>
                  ) : (
                    <span className="bad">
                      <span aria-hidden="true">✕ </span>unavailable
                    </span>
                  )}
                </h2>
                {!a.available && <p className="reason">Why: {reasonOf(a)}</p>}
                {a.description && <p className="muted">{a.description}</p>}
                <dl className="facts">
                  <div>
                    <dt>Type</dt>
                    <dd>
                      <code>{a.agent_type}</code>
                    </dd>
                  </div>
                  <div>
                    <dt>Models</dt>
                    <dd>{modelsOf(a)}</dd>
                  </div>
                  <div>
                    <dt>Runs ({DAYS} d)</dt>
                    <dd>{s?.runs ?? 0}</dd>
                  </div>
                  <div>
                    <dt>Success</dt>
                    <dd>
                      {s?.success_rate === null || s?.success_rate === undefined
                        ? '—'
                        : `${Math.round(s.success_rate * 100)} % (${s.completed}/${s.completed + s.failed + s.cancelled})`}
                    </dd>
                  </div>
                  <div>
                    <dt>Avg cost</dt>
                    <dd>{formatCost(s?.avg_cost_usd)}</dd>
                  </div>
                  {typeof a.metadata?.sandbox === 'string' && (
                    <div>
                      <dt>Sandbox</dt>
                      <dd data-sandbox>{a.metadata.sandbox}</dd>
                    </div>
                  )}
                  {s?.last_run_at && (
                    <div>
                      <dt>Last run</dt>
                      <dd>{formatTime(s.last_run_at)}</dd>
                    </div>
                  )}
                </dl>
              </li>
            );
          })}
        </ul>
      )}
    </section>
  );
}
