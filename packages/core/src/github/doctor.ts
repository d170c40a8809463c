import type { CoreDeps } from '../deps.ts';
import { parseProjectSettings } from '../run-options.ts';
import { openProjectSecrets } from '../secrets/project-secrets.ts';
import { describeGithubError } from './client.ts';
import { accessFor } from './deliver.ts';

export interface GithubCheck {
  ok: boolean;
  project: string;
  repo: string;
  detail: string;
}

/** What a token's classic scopes lack for pushing and opening PRs (fine-grained tokens send none). */
function missingScopes(header: string | undefined, isPrivate: boolean): string | null {
  if (header === undefined) return null;
  const scopes = header
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (scopes.includes('repo')) return null;
  if (!isPrivate && scopes.includes('public_repo')) return null;
  return isPrivate ? 'repo' : 'public_repo (or repo)';
}

/**
 * `clawlink doctor` for each linked project: can the project's credential read the repository,
 * may it push, and which scope is missing when it may not.
 */
export async function checkGithubLinks(
  deps: Pick<CoreDeps, 'prisma' | 'config' | 'secrets' | 'githubApps'>,
): Promise<GithubCheck[]> {
  const projects = await deps.prisma.project.findMany({ orderBy: { slug: 'asc' } });
  const checks: GithubCheck[] = [];
  for (const project of projects) {
    let github: ReturnType<typeof parseProjectSettings>['github'];
    try {
      github = parseProjectSettings(project.slug, project.settings).github;
    } catch (err) {
      checks.push({ ok: false, project: project.slug, repo: '?', detail: (err as Error).message });
      continue;
    }
    if (!github) continue;
    const repo = github.repo;
    const check = (ok: boolean, detail: string) => checks.push({ ok, project: project.slug, repo, detail });
    try {
      const access = accessFor(deps, repo, await openProjectSecrets(deps, project.slug));
      const [owner, name] = repo.split('/') as [string, string];
      const answer = await access.octokit.rest.repos.get({ owner, repo: name });
      const data = answer.data;
      const scopes = answer.headers['x-oauth-scopes'];
      const lacking = missingScopes(typeof scopes === 'string' ? scopes : undefined, data.private);
      const via = `${access.source} credential`;
      if (lacking)
        check(false, `${via} reads ${repo} but lacks the ${lacking} scope needed to push and open PRs`);
      else if (data.permissions && !data.permissions.push)
        check(
          false,
          `${via} reads ${repo} but may not push: give it Contents: write and Pull requests: write`,
        );
      else check(true, `${via} reads and may push ${repo} (base ${github.base ?? data.default_branch})`);
    } catch (err) {
      check(false, describeGithubError(err));
    }
  }
  return checks;
}
