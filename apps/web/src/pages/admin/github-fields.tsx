import type { ProjectDto } from '@ccl/contracts';
import { Field } from '../../components/field.tsx';

type Github = NonNullable<ProjectDto['settings']['github']>;

/** The server's pattern for `owner/name` (contracts' githubRepoSchema), for the browser's own check. */
const REPO = '[A-Za-z0-9\\-]{1,39}/[A-Za-z0-9._\\-]{1,100}';

/** The project's link to a GitHub repository and what its runs do there. Uncontrolled. */
export function GithubFields({ settings }: { settings: ProjectDto['settings'] }) {
  const g = settings.github;
  return (
    <fieldset className="checks github-settings" aria-describedby="github-settings-hint">
      <legend>GitHub</legend>
      <p id="github-settings-hint" className="hint">
        Linked, runs clone the repository and finished work becomes a pull request. The token is the project’s{' '}
        <code>GITHUB_TOKEN</code> secret, else the server’s.
      </p>
      <Field label="GitHub repository" optional hint="owner/name, e.g. acme/api. Empty: not linked.">
        <input
          name="github_repo"
          defaultValue={g?.repo ?? ''}
          pattern={REPO}
          title="owner/name, e.g. acme/api"
          spellCheck={false}
          autoCapitalize="none"
        />
      </Field>
      <Field label="Base branch" optional hint="Empty: the repository’s default branch.">
        <input name="github_base" defaultValue={g?.base ?? ''} maxLength={200} spellCheck={false} />
      </Field>
      <Field label="Pull requests">
        <select name="github_pull_requests" defaultValue={g?.pull_requests ?? 'auto'}>
          <option value="auto">Open one when a run finishes with changes</option>
          <option value="approve">Open one after someone approves</option>
          <option value="off">Never open one</option>
        </select>
      </Field>
      <label className="inline">
        <input type="checkbox" name="github_draft" defaultChecked={g?.draft === true} />
        Open pull requests as drafts
      </label>
      <label className="inline">
        <input type="checkbox" name="github_fix_ci" defaultChecked={g?.fix_ci === true} />
        Fix failing CI with a follow-up run
      </label>
      <Field label="CI fix attempts per pull request" optional hint="1 to 10; used with Fix failing CI.">
        <input
          name="github_fix_ci_attempts"
          type="number"
          min="1"
          max="10"
          step="1"
          inputMode="numeric"
          defaultValue={g?.fix_ci_attempts ?? ''}
        />
      </Field>
    </fieldset>
  );
}

/** The `github` setting the fields above hold; undefined when no repository is given (not linked). */
export function githubFromForm(form: FormData): Github | undefined {
  const get = (k: string) => String(form.get(k) ?? '').trim();
  if (!get('github_repo')) return undefined;
  const fixCi = form.get('github_fix_ci') === 'on';
  return {
    repo: get('github_repo'),
    ...(get('github_base') ? { base: get('github_base') } : {}),
    pull_requests: get('github_pull_requests') as NonNullable<Github['pull_requests']>,
    ...(form.get('github_draft') === 'on' ? { draft: true } : {}),
    ...(fixCi ? { fix_ci: true } : {}),
    ...(fixCi && get('github_fix_ci_attempts')
      ? { fix_ci_attempts: Number(get('github_fix_ci_attempts')) }
      : {}),
  };
}
