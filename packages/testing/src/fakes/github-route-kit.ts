import type { GitHubActor, RepoRecord } from './github-state.ts';
import type { GitHubStore } from './github-store.ts';

export const DOCS = 'https://docs.github.com/rest';

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteContext {
  store: GitHubStore;
  path: string;
  query: URLSearchParams;
  body: Record<string, unknown>;
  actor: GitHubActor;
  /** Decoded path captures after owner and repo. */
  params: string[];
  /** The path's repository on `repoScoped` routes; a placeholder elsewhere. */
  repo: RepoRecord;
}

export interface Route {
  method: string;
  pattern: RegExp;
  /** `user`: a token or an installation token; `jwt`: a GitHub App JWT. */
  auth: 'user' | 'jwt';
  /** Writes that need push access answer 403 without it. */
  needsPush: boolean;
  /** Path starts `/repos/{owner}/{repo}`: the repository is looked up (404) before `handle`. */
  repoScoped: boolean;
  handle(ctx: RouteContext): Reply | Promise<Reply>;
}

export const notFound = (): Reply => ({
  status: 404,
  body: { message: 'Not Found', documentation_url: DOCS },
});
export const ok = (body: unknown, status = 200): Reply => ({ status, body });
export const invalid = (errors: object[]): Reply => ({
  status: 422,
  body: { message: 'Validation Failed', errors, documentation_url: DOCS },
});
export const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** `per_page`/`page` with the `Link` header octokit's paginate follows. */
export function paged(ctx: RouteContext, items: unknown[]): Reply {
  const perPage = Math.min(100, Math.max(1, Number(ctx.query.get('per_page')) || 30));
  const page = Math.max(1, Number(ctx.query.get('page')) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (n: number, rel: string) => {
    const query = new URLSearchParams(ctx.query);
    query.set('page', String(n));
    return `<${ctx.store.api}${ctx.path}?${query}>; rel="${rel}"`;
  };
  const links = [
    ...(page < last ? [link(page + 1, 'next'), link(last, 'last')] : []),
    ...(page > 1 ? [link(1, 'first'), link(page - 1, 'prev')] : []),
  ];
  return {
    status: 200,
    body: items.slice((page - 1) * perPage, page * perPage),
    ...(links.length > 0 ? { headers: { link: links.join(', ') } } : {}),
  };
}

/**
 * A route whose `path` is a regex source; a leading `/repos` stands for
 * `/repos/{owner}/{repo}`, whose captures are not among `params`.
 */
export function route(
  method: string,
  path: string,
  auth: Route['auth'],
  handle: Route['handle'],
  needsPush = false,
): Route {
  const repoScoped = path.startsWith('/repos');
  const source = repoScoped ? `^/repos/([^/]+)/([^/]+)${path.slice('/repos'.length)}$` : `^${path}$`;
  return { method, pattern: new RegExp(source), auth, handle, needsPush, repoScoped };
}
