import { checkRepoUrl, RepoRefused } from '@ccl/agents';
import type { CoreDeps } from './deps.ts';
import { Invalid } from './errors.ts';

/** Refuses, as bad input, a repository URL the server must not clone (see REPO policy in config). */
export async function checkRepo(deps: CoreDeps, url: string, field: string): Promise<void> {
  try {
    await checkRepoUrl(url, deps.config.repoPolicy);
  } catch (err) {
    if (err instanceof RepoRefused) throw new Invalid(`${field}: ${err.message}`);
    throw err;
  }
}
