import type { AgentInfoDto, ProjectDto, SkillInfoDto, TaskDto } from '@ccl/contracts';
import { type FormEvent, useState } from 'react';
import { LoadError, Loading } from '../components/async-view.tsx';
import { Field } from '../components/field.tsx';
import { PrioritySelect } from '../components/priority.tsx';
import { useToasts } from '../components/toasts.tsx';
import { api } from '../lib/api.ts';
import { navigate } from '../lib/router.ts';
import { useResource } from '../lib/use-resource.ts';

interface Choices {
  projects: ProjectDto[];
  agents: AgentInfoDto[];
  skills: SkillInfoDto[];
}

export function reasonOf(agent: AgentInfoDto): string {
  const reason = agent.metadata?.reason;
  return typeof reason === 'string' ? reason : 'not available on this server';
}

function modelsOf(agent: AgentInfoDto | undefined): string[] {
  const m = agent?.metadata ?? {};
  const list = Array.isArray(m.models) ? m.models.filter((x): x is string => typeof x === 'string') : [];
  return typeof m.model === 'string' && !list.includes(m.model) ? [m.model, ...list] : list;
}

export function NewTaskPage({ project }: { project: string | null }) {
  const toasts = useToasts();
  const choices = useResource(async (): Promise<Choices> => {
    const [projects, agents, skills] = await Promise.all([
      api.get<ProjectDto[]>('/api/projects'),
      api.get<AgentInfoDto[]>('/api/runtime/agents'),
      api.get<SkillInfoDto[]>('/api/runtime/skills'),
    ]);
    return { projects, agents, skills };
  });
  const [agentType, setAgentType] = useState('');
  const [submitting, setSubmitting] = useState(false);

  if (choices.loading && !choices.data) return <Loading what="agents and projects" />;
  if (choices.error || !choices.data) {
    return <LoadError what="the form's choices" error={choices.error ?? ''} onRetry={choices.reload} />;
  }
  const { projects, agents, skills } = choices.data;
  const firstAvailable = agents.find((a) => a.available)?.agent_type ?? '';
  const chosen = agentType || firstAvailable;
  const chosenAgent = agents.find((a) => a.agent_type === chosen);
  const models = modelsOf(chosenAgent);

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const get = (k: string) => String(form.get(k) ?? '').trim();
    const cap = get('max_cost_usd');
    const context: Record<string, unknown> = {};
    if (get('model')) context.model = get('model');
    if (get('skill')) context.skill = get('skill');
    if (get('approval') === 'commands') context.approval = 'commands';
    if (cap) context.max_cost_usd = Number(cap);
    setSubmitting(true);
    try {
      const task = await api.post<TaskDto>('/api/tasks', {
        project: get('project') || 'inbox',
        title: get('title'),
        ...(get('description') ? { description: get('description') } : {}),
        priority: get('priority') || 'medium',
        prompt: get('prompt'),
        agent_type: chosen,
        context,
      });
      toasts.info(`Task “${task.title}” created and queued.`);
      navigate(`/tasks/${task.number}`);
    } catch (err) {
      toasts.error('create the task', err);
      setSubmitting(false);
    }
  };

  return (
    <section aria-labelledby="new-title" className="narrow">
      <h1 id="new-title">New task</h1>
      <form onSubmit={submit} className="form">
        <Field label="Project" hint="An existing project, or a new name to create one.">
          <input
            name="project"
            list="project-list"
            defaultValue={project ?? projects[0]?.slug ?? 'inbox'}
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
            title="letters, digits, dot, dash or underscore"
            required
          />
        </Field>
        <datalist id="project-list">
          {projects.map((p) => (
            <option key={p.id} value={p.slug}>
              {p.name}
            </option>
          ))}
        </datalist>
        <Field label="Title">
          <input name="title" required maxLength={500} />
        </Field>
        <Field label="Description" optional>
          <textarea name="description" rows={2} />
        </Field>
        <Field label="Priority">
          <PrioritySelect name="priority" defaultValue="medium" />
        </Field>
        <Field label="Prompt">
          <textarea name="prompt" rows={6} required />
        </Field>
        <Field label="Agent" hint={chosenAgent?.description ?? undefined}>
          <select name="agent_type" value={chosen} onChange={(e) => setAgentType(e.target.value)} required>
            {agents.map((a) => (
              <option key={a.agent_type} value={a.agent_type} disabled={!a.available}>
                {a.name}
                {a.available ? '' : ` — unavailable: ${reasonOf(a)}`}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Model" optional hint="Empty: the agent's default model.">
          <input name="model" list="model-list" placeholder={models[0] ?? ''} />
        </Field>
        <datalist id="model-list">
          {models.map((m) => (
            <option key={m} value={m} />
          ))}
        </datalist>
        <Field label="Skill" optional>
          <select name="skill" defaultValue="">
            <option value="">none</option>
            {skills.map((s) => (
              <option key={s.skill_id} value={s.skill_id}>
                {s.name}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Approval mode">
          <select name="approval" defaultValue="none">
            <option value="none">Run without asking</option>
            <option value="commands">Ask before every shell command</option>
          </select>
        </Field>
        <Field label="Cost cap in USD" optional hint="The run stops once it has cost more than this.">
          <input name="max_cost_usd" type="number" min="0.01" step="0.01" inputMode="decimal" />
        </Field>
        <div className="actions">
          <button type="submit" className="primary" disabled={submitting || !chosen}>
            {submitting ? 'Creating…' : 'Create and run'}
          </button>
        </div>
        {!firstAvailable && (
          <p className="error-text" role="alert">
            No agent is available on this server; see the Agents page for what to configure.
          </p>
        )}
      </form>
    </section>
  );
}
