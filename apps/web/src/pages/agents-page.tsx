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
                  <div>
                    <dt>PRs opened</dt>
                    <dd>{s?.prs_opened ?? 0}</dd>
                  </div>
                  <div>
                    <dt>PRs merged</dt>
                    <dd>{s?.prs_merged ?? 0}</dd>
                  </div>
                  <div>
                    <dt>Merge rate</dt>
                    <dd>{formatRate(s?.merge_rate)}</dd>
                  </div>
                  <div>
                    <dt>Cost per merged PR</dt>
                    <dd>{formatCost(s?.cost_usd_per_merged_pr)}</dd>
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
      {data.data && <ProjectPullRequests projects={data.data.stats.projects} />}
    </section>
  );
}

function formatRate(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? '—' : `${Math.round(rate * 100)} %`;
}

/** Pull requests per project: how many were opened and merged, and what a merged one cost. */
function ProjectPullRequests({ projects }: { projects: AgentStatsPageDto['projects'] }) {
  return (
    <section aria-labelledby="project-prs-title">
      <h2 id="project-prs-title">Pull requests per project ({DAYS} d)</h2>
      {projects.length === 0 ? (
        <Empty>No pull requests were opened in the last {DAYS} days.</Empty>
      ) : (
        <div className="table-wrap">
          <table data-testid="project-pr-stats">
            <thead>
              <tr>
                <th scope="col">Project</th>
                <th scope="col">Opened</th>
                <th scope="col">Merged</th>
                <th scope="col">Merge rate</th>
                <th scope="col">Cost per merged PR</th>
              </tr>
            </thead>
            <tbody>
              {projects.map((p) => (
                <tr key={p.project_slug} data-project={p.project_slug}>
                  <th scope="row">{p.project_slug}</th>
                  <td>{p.prs_opened}</td>
                  <td>{p.prs_merged}</td>
                  <td>{formatRate(p.merge_rate)}</td>
                  <td>{formatCost(p.cost_usd_per_merged_pr)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
