import { checkRepoUrl, RepoRefused } from '@ccl/agents';
import type { RequestCtx } from './context.ts';
import type { CoreDeps } from './deps.ts';
import { Invalid } from './errors.ts';
import { type RefusalDeps, recordRefusal } from './refusals.ts';

/** The URL as recorded: without userinfo (it may hold a password) and cut to a sane length. */
function shownUrl(url: string): string {
  const bare = url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/?#]*@/i, '$1');
  return bare.length > 300 ? `${bare.slice(0, 300)}…` : bare;
}

/**
 * Refuses, as bad input, a repository URL the server must not clone (see REPO policy in config).
 * A refusal is audited: such URLs are how the server's own network gets probed.
 */
export async function checkRepo(
  deps: RefusalDeps & Pick<CoreDeps, 'config'>,
  ctx: RequestCtx,
  url: string,
  field: string,
): Promise<void> {
  try {
    await checkRepoUrl(url, deps.config.repoPolicy);
  } catch (err) {
    if (!(err instanceof RepoRefused)) throw err;
    await recordRefusal(deps, ctx, {
      action: 'repo.refused',
      resourceType: 'repository',
      resourceId: shownUrl(url),
      reason: `${field}: ${err.message}`,
    });
    throw new Invalid(`${field}: ${err.message}`);
  }
}
