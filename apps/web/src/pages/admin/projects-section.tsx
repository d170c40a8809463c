import type { ProjectDto } from '@ccl/contracts';
import { type FormEvent, useRef, useState } from 'react';
import { Empty, LoadError, Loading } from '../../components/async-view.tsx';
import { ConfirmButton } from '../../components/confirm-button.tsx';
import { Field } from '../../components/field.tsx';
import { useToasts } from '../../components/toasts.tsx';
import { type ProjectSettings, projects } from '../../lib/admin-api.ts';
import { formatTime } from '../../lib/format.ts';
import { navigate } from '../../lib/router.ts';
import { useSession } from '../../lib/session.tsx';
import { useResource } from '../../lib/use-resource.ts';
import { BoardColumnsFields, columnsFromForm } from './board-columns-fields.tsx';
import { GithubFields, githubFromForm } from './github-fields.tsx';

export function ProjectsSection({ project }: { project: string | null }) {
  const list = useResource(projects.list);
  const all = list.data ?? [];
  const current = all.find((p) => p.slug === project) ?? all[0];
  return (
    <section aria-labelledby="projects-title">
      <h1 id="projects-title">Projects</h1>
      {list.loading && !list.data && <Loading what="projects" />}
      {list.error && <LoadError what="projects" error={list.error} onRetry={list.reload} />}
      {list.data && all.length === 0 && <Empty>No projects yet: creating a task creates its project.</Empty>}
      {current && (
        <>
          <div className="field project-pick">
            <label htmlFor="project-pick">Project</label>
            <select
              id="project-pick"
              value={current.slug}
              onChange={(e) =>
                navigate(`/admin/projects?project=${encodeURIComponent(e.target.value)}`, { replace: true })
              }
            >
              {all.map((p) => (
                <option key={p.id} value={p.slug}>
                  {p.name} ({p.slug})
                </option>
              ))}
            </select>
          </div>
          <SettingsForm
            key={`${current.id}:${JSON.stringify(current.settings)}`}
            project={current}
            onSaved={(p) => list.setData((prev) => prev?.map((x) => (x.id === p.id ? p : x)))}
          />
          <Secrets key={current.slug} slug={current.slug} />
        </>
      )}
    </section>
  );
}

/** The settings the form below holds; it leaves the others as they are. */
const FORM_SETTINGS = [
  'repo',
  'ref',
  'approval',
  'max_cost_usd',
  'on_limit',
  'budget_usd_month',
  'model',
  'columns',
  'github',
] as const;

function SettingsForm({ project, onSaved }: { project: ProjectDto; onSaved: (p: ProjectDto) => void }) {
  const { can } = useSession();
  const toasts = useToasts();
  const [busy, setBusy] = useState(false);
  const allowed = can('project:manage');
  const s = project.settings;

  const submit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const get = (k: string) => String(form.get(k) ?? '').trim();
    // The API replaces the settings as a whole, so an emptied field drops that default; settings
    // this form does not show (max_turns, network…) are sent back as they were.
    const settings: ProjectSettings = Object.fromEntries(
      Object.entries(s).filter(([k]) => !(FORM_SETTINGS as readonly string[]).includes(k)),
    );
    if (get('repo')) settings.repo = get('repo');
    if (get('ref')) settings.ref = get('ref');
    if (get('approval') === 'commands' || get('approval') === 'none') {
      settings.approval = get('approval') as 'none' | 'commands';
    }
    if (get('max_cost_usd')) settings.max_cost_usd = Number(get('max_cost_usd'));
    if (get('on_limit') === 'ask') settings.on_limit = 'ask';
    if (get('budget_usd_month')) settings.budget_usd_month = Number(get('budget_usd_month'));
    if (get('model')) settings.model = get('model');
    const columns = columnsFromForm(form);
    if (columns) settings.columns = columns;
    const github = githubFromForm(form);
    if (github) settings.github = github;
    setBusy(true);
    try {
      onSaved(await projects.saveSettings(project.slug, settings));
      toasts.info(`Settings of ${project.slug} saved; new tasks use them.`);
    } catch (err) {
      toasts.error(`save the settings of ${project.slug}`, err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="form panel" onSubmit={submit} aria-labelledby="settings-title">
      <h2 id="settings-title">Task defaults, board and GitHub</h2>
      <p className="muted">
        Every new task of this project starts with these; a task’s own settings win. The columns shape this
        project’s board; the GitHub link, where its work goes.
      </p>
      {!allowed && (
        <p className="muted" role="note">
          Read-only: changing them needs the <code>project:manage</code> permission.
        </p>
      )}
      <fieldset disabled={!allowed || busy} className="plain">
        <legend className="visually-hidden">Settings of {project.slug}</legend>
        <Field
          label="Repository"
          optional
          hint="A git URL or a path on the server, cloned into each workspace."
        >
          <input name="repo" defaultValue={s.repo ?? ''} spellCheck={false} />
        </Field>
        <Field label="Branch, tag or commit" optional>
          <input name="ref" defaultValue={s.ref ?? ''} spellCheck={false} />
        </Field>
        <Field label="Approval mode">
          <select name="approval" defaultValue={s.approval ?? ''}>
            <option value="">Not set (run without asking)</option>
            <option value="none">Run without asking</option>
            <option value="commands">Ask before every shell command</option>
          </select>
        </Field>
        <Field label="Cost cap in USD" optional hint="A run stops once it has cost more than this.">
          <input
            name="max_cost_usd"
            type="number"
            min="0.01"
            max="10000"
            step="0.01"
            inputMode="decimal"
            defaultValue={s.max_cost_usd ?? ''}
          />
        </Field>
        <Field label="At the cost cap">
          <select name="on_limit" defaultValue={s.on_limit ?? 'fail'}>
            <option value="fail">Stop the run (it fails)</option>
            <option value="ask">Pause it and ask for approval to go on</option>
          </select>
        </Field>
        <Field
          label="Monthly budget in USD"
          optional
          hint="What this project’s runs may cost per calendar month (UTC). At 80 % the board warns; at 100 % new runs wait and running ones ask to go on."
        >
          <input
            name="budget_usd_month"
            type="number"
            min="0.01"
            step="0.01"
            inputMode="decimal"
            defaultValue={s.budget_usd_month ?? ''}
          />
        </Field>
        <Field label="Model" optional hint="Empty: each agent’s default model.">
          <input name="model" defaultValue={s.model ?? ''} spellCheck={false} />
        </Field>
        <BoardColumnsFields settings={s} />
        <GithubFields settings={s} />
        <div className="actions">
          <button type="submit" className="primary">
            {busy ? 'Saving…' : 'Save settings'}
          </button>
        </div>
      </fieldset>
    </form>
  );
}

const SECRET_NAME = '[A-Z][A-Z0-9_]{0,63}';

/** Names only: a value goes in through a password field and never comes back. */
function Secrets({ slug }: { slug: string }) {
  const { can } = useSession();
  const toasts = useToasts();
  const allowed = can('secret:manage');
  const list = useResource(() => (allowed ? projects.secrets(slug) : Promise.resolve([])), slug);
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const valueInput = useRef<HTMLInputElement>(null);

  if (!allowed) {
    return (
      <section className="panel" aria-labelledby="secrets-title">
        <h2 id="secrets-title">Secrets</h2>
        <p className="muted">
          Seeing and setting secrets needs the <code>secret:manage</code> permission.
        </p>
      </section>
    );
  }

  const save = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const value = valueInput.current?.value ?? '';
    const existed = list.data?.some((x) => x.name === name);
    setBusy(true);
    try {
      const info = await projects.putSecret(slug, name, value);
      list.setData((prev) => [...(prev ?? []).filter((x) => x.name !== info.name), info]);
      // Out of the page at once: the field is uncontrolled, so the value was never in React state either.
      form.reset();
      setName('');
      toasts.info(`Secret ${info.name} ${existed ? 'replaced' : 'stored'}; runs of ${slug} get it.`);
    } catch (err) {
      toasts.error(`store the secret ${name}`, err);
    } finally {
      setBusy(false);
    }
  };

  const remove = async (secret: string) => {
    try {
      await projects.deleteSecret(slug, secret);
      list.setData((prev) => prev?.filter((x) => x.name !== secret));
      toasts.info(`Secret ${secret} deleted.`);
    } catch (err) {
      toasts.error(`delete the secret ${secret}`, err);
    }
  };

  const replace = (secret: string) => {
    setName(secret);
    valueInput.current?.focus();
  };

  const rows = [...(list.data ?? [])].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <section className="panel" aria-labelledby="secrets-title">
      <h2 id="secrets-title">Secrets</h2>
      <p className="muted">
        Runs of this project get them as environment variables (e.g. <code>ANTHROPIC_API_KEY</code>,{' '}
        <code>GITHUB_TOKEN</code>). Values are encrypted and never shown again.
      </p>
      {list.loading && !list.data && <Loading what="secrets" />}
      {list.error && <LoadError what="secrets" error={list.error} onRetry={list.reload} />}
      {list.data && rows.length === 0 && <Empty>No secrets in this project.</Empty>}
      {rows.length > 0 && (
        <div className="table-wrap">
          <table data-testid="secrets-table">
            <caption className="visually-hidden">Secrets of {slug}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Updated</th>
                <th scope="col">By</th>
                <th scope="col">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((x) => (
                <tr key={x.name} data-secret={x.name}>
                  <td>
                    <code>{x.name}</code>
                  </td>
                  <td>{formatTime(x.updated_at)}</td>
                  <td>{x.created_by}</td>
                  <td>
                    <div className="actions">
                      <button type="button" aria-label={`Replace ${x.name}`} onClick={() => replace(x.name)}>
                        Replace
                      </button>
                      <ConfirmButton label="Delete" subject={x.name} onConfirm={() => remove(x.name)} />
                    </div>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <form className="form" onSubmit={save} aria-labelledby="set-secret-title" autoComplete="off">
        <h3 id="set-secret-title">Set a secret</h3>
        <Field label="Name" hint="Upper-case letters, digits and underscores; an existing name is replaced.">
          <input
            name="secret_name"
            value={name}
            onChange={(e) => setName(e.target.value.toUpperCase())}
            pattern={SECRET_NAME}
            title="upper-case letters, digits and underscores, like GITHUB_TOKEN"
            required
            spellCheck={false}
            autoCapitalize="characters"
          />
        </Field>
        <Field label="Value" hint="Write-only: after saving, nobody can read it here again.">
          <input
            ref={valueInput}
            name="secret_value"
            type="password"
            autoComplete="new-password"
            required
            maxLength={10_000}
          />
        </Field>
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save secret'}
          </button>
        </div>
      </form>
    </section>
  );
}
