import {
  invalid,
  notFound,
  ok,
  paged,
  type Reply,
  type Route,
  type RouteContext,
  route,
  text,
} from './github-route-kit.ts';
import { checkRunJson, nowIso, type PullRecord } from './github-state.ts';

export function pullOf(ctx: RouteContext): PullRecord | undefined {
  return ctx.store.pull(ctx.repo.fullName, Number(ctx.params[0]));
}

async function createPull(ctx: RouteContext): Promise<Reply> {
  const { store, repo, body } = ctx;
  const title = text(body.title);
  const headSpec = text(body.head);
  const base = text(body.base);
  if (!title || !headSpec || !base) {
    const field = !title ? 'title' : !headSpec ? 'head' : 'base';
    return invalid([{ resource: 'PullRequest', field, code: 'missing_field' }]);
  }
  // `owner:branch` or a bare branch; forks are not modelled, so the owner must be the repository's.
  const [headOwner, headRef] = headSpec.includes(':') ? headSpec.split(':', 2) : [repo.owner, headSpec];
  const branches = await store.git.branches(repo.fullName);
  const headSha = headRef ? branches[headRef] : undefined;
  if (headOwner !== repo.owner || !headRef || !headSha) {
    return invalid([{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
  }
  const baseSha = branches[base];
  if (!baseSha) return invalid([{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
  const open = store.pulls.find(
    (p) => p.fullName === repo.fullName && p.state === 'open' && p.head.ref === headRef,
  );
  if (open) {
    const message = `A pull request already exists for ${repo.owner}:${headRef}.`;
    return invalid([{ resource: 'PullRequest', code: 'custom', message }]);
  }
  const baseHistory = await store.git.log(repo.fullName, baseSha);
  if (baseHistory.some((c) => c.sha === headSha)) {
    return invalid([
      { resource: 'PullRequest', code: 'custom', message: `No commits between ${base} and ${headRef}` },
    ]);
  }
  const at = nowIso();
  const pull: PullRecord = {
    id: store.nextId(),
    fullName: repo.fullName,
    number: store.nextNumber(repo.fullName),
    title,
    body: text(body.body) ?? null,
    state: 'open',
    draft: body.draft === true,
    head: { ref: headRef, sha: headSha },
    base: { ref: base, sha: baseSha },
    user: ctx.actor,
    merged: false,
    mergedAt: null,
    closedAt: null,
    createdAt: at,
    updatedAt: at,
  };
  store.pulls.push(pull);
  return ok(store.pullJson(pull), 201);
}

async function listPulls(ctx: RouteContext): Promise<Reply> {
  const { store, repo, query } = ctx;
  await store.refreshPulls(repo.fullName);
  const state = query.get('state') ?? 'open';
  const head = query.get('head');
  const base = query.get('base');
  const pulls = store.pulls
    .filter((p) => p.fullName === repo.fullName)
    .filter((p) => state === 'all' || p.state === state)
    .filter((p) => !head || head === `${repo.owner}:${p.head.ref}`)
    .filter((p) => !base || base === p.base.ref)
    .sort((a, b) => b.number - a.number);
  return paged(
    ctx,
    pulls.map((p) => store.pullJson(p)),
  );
}

async function updatePull(ctx: RouteContext): Promise<Reply> {
  const pull = pullOf(ctx);
  if (!pull) return notFound();
  const { body, store } = ctx;
  const state = text(body.state);
  if (state !== undefined && state !== 'open' && state !== 'closed') {
    return invalid([{ resource: 'PullRequest', field: 'state', code: 'invalid' }]);
  }
  if (state === 'open' && pull.merged) {
    return invalid([
      {
        resource: 'PullRequest',
        code: 'custom',
        message: 'state cannot be changed. The pull request has been merged.',
      },
    ]);
  }
  const base = text(body.base);
  if (base !== undefined && !(await store.git.branches(ctx.repo.fullName))[base]) {
    return invalid([{ resource: 'PullRequest', field: 'base', code: 'invalid' }]);
  }
  if (text(body.title) !== undefined) pull.title = text(body.title) as string;
  if ('body' in body) pull.body = text(body.body) ?? null;
  if (base !== undefined) pull.base.ref = base;
  if (state !== undefined && state !== pull.state) {
    pull.state = state;
    pull.closedAt = state === 'closed' ? nowIso() : null;
  }
  pull.updatedAt = nowIso();
  await store.refreshPulls(ctx.repo.fullName);
  return ok(store.pullJson(pull));
}

async function checkRunsForRef(ctx: RouteContext): Promise<Reply> {
  const { store, repo, query } = ctx;
  const ref = ctx.params[0] ?? '';
  const sha = await store.resolveRef(repo.fullName, ref);
  if (!sha)
    return invalid([{ resource: 'Commit', code: 'custom', message: `No commit found for SHA: ${ref}` }]);
  let runs = store.runs.filter((r) => r.fullName === repo.fullName && r.headSha === sha);
  // `filter=latest` (the default) keeps the newest run of each name.
  if (query.get('filter') !== 'all')
    runs = runs.filter((r) => !runs.some((o) => o.name === r.name && o.id > r.id));
  const name = query.get('check_name');
  const status = query.get('status');
  runs = runs.filter((r) => (!name || r.name === name) && (!status || r.status === status));
  return ok({ total_count: runs.length, check_runs: runs.map((r) => checkRunJson(r, store.api)) });
}

/** The repository, pull request and check routes. */
export const pullRoutes: Route[] = [
  route('GET', '/repos', 'user', (ctx) => ok(ctx.store.repoJson(ctx.repo))),
  route('GET', '/repos/pulls', 'user', listPulls),
  route('POST', '/repos/pulls', 'user', createPull, true),
  route('GET', '/repos/pulls/(\\d+)', 'user', async (ctx) => {
    const pull = pullOf(ctx);
    if (!pull) return notFound();
    await ctx.store.refreshPulls(ctx.repo.fullName);
    return ok(ctx.store.pullJson(pull));
  }),
  route('PATCH', '/repos/pulls/(\\d+)', 'user', updatePull, true),
  route('GET', '/repos/pulls/(\\d+)/merge', 'user', (ctx) =>
    pullOf(ctx)?.merged ? { status: 204 } : notFound(),
  ),
  route('GET', '/repos/commits/(.+)/check-runs', 'user', checkRunsForRef),
  route('GET', '/repos/commits/(.+)/check-suites', 'user', async (ctx) => {
    const sha = await ctx.store.resolveRef(ctx.repo.fullName, ctx.params[0] ?? '');
    const suites = ctx.store.suites.filter((s) => s.fullName === ctx.repo.fullName && s.headSha === sha);
    return ok({ total_count: suites.length, check_suites: suites.map((s) => ctx.store.suiteJson(s)) });
  }),
  route('GET', '/repos/check-suites/(\\d+)/check-runs', 'user', (ctx) => {
    const suiteId = Number(ctx.params[0]);
    if (!ctx.store.suites.some((s) => s.id === suiteId && s.fullName === ctx.repo.fullName))
      return notFound();
    const runs = ctx.store.runs.filter((r) => r.suiteId === suiteId);
    return ok({ total_count: runs.length, check_runs: runs.map((r) => checkRunJson(r, ctx.store.api)) });
  }),
];
