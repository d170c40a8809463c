import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GitHttpServer } from './git-http.ts';
import { type FakeGitHubAppConfig, looksLikeJwt, verifyAppJwt } from './github-app-auth.ts';
import { DOCS, notFound, type Reply, type Route, type RouteContext } from './github-route-kit.ts';
import { appRoutes, type IssuedInstallationToken } from './github-routes-app.ts';
import { discussionRoutes } from './github-routes-discussion.ts';
import { pullRoutes } from './github-routes-pulls.ts';
import type {
  GitHubActor,
  GitHubCheckSuiteJson,
  GitHubPullJson,
  GitHubRepoJson,
  GitHubReviewJson,
  IssueCommentRecord,
  ReactionRecord,
  RepoPermissions,
  RepoRecord,
  ReviewCommentRecord,
} from './github-state.ts';
import { issueCommentJson } from './github-state.ts';
import {
  type CheckRunInput,
  FAKE_APP_BOT,
  FAKE_USER,
  GitHubStore,
  type ReviewInput,
} from './github-store.ts';

export {
  type FakeGitHubAppConfig,
  makeAppKeyPair,
  signAppJwt,
  signWebhook,
  webhookHeaders,
} from './github-app-auth.ts';
export type { IssuedInstallationToken } from './github-routes-app.ts';
export type {
  CheckConclusion,
  GitHubCheckSuiteJson,
  GitHubPullJson,
  GitHubRepoJson,
  GitHubReviewJson,
  IssueCommentRecord,
  ReactionRecord,
  RepoPermissions,
  ReviewCommentRecord,
  ReviewState,
} from './github-state.ts';
export type { CheckRunInput, ReviewInput } from './github-store.ts';

export type FakeGitHubAuth = 'token' | 'jwt' | 'installation' | 'none' | 'bad';

export interface FakeGitHubRequest {
  method: string;
  path: string;
  /** Raw query string without `?`. */
  query: string;
  auth: FakeGitHubAuth;
  /** Parsed JSON body, or null. */
  body: unknown;
}

export interface FakeGitHub {
  /** The API base, e.g. `http://127.0.0.1:40123`; pass as octokit's `baseUrl`. */
  readonly url: string;
  /** The accepted personal token (user `fake-user`); undefined accepts none. Mutable to rotate it. */
  token: string | undefined;
  /** Sent as `x-oauth-scopes` to token requests; without `repo`, private repositories answer 404. */
  scopes: string;
  /** Lifetime of installation tokens issued from now on (default one hour). */
  installationTokenTtlMs: number;
  readonly issuedTokens: IssuedInstallationToken[];
  readonly requests: FakeGitHubRequest[];
  /** Requests no route matched (answered 404). */
  readonly unhandled: Array<{ method: string; path: string }>;
  /** Issue (conversation) comments, each with its edit history in `bodies`. */
  readonly comments: readonly IssueCommentRecord[];
  readonly reviewComments: readonly ReviewCommentRecord[];
  /** Review comments made as replies (`inReplyToId` set). */
  readonly reviewReplies: readonly ReviewCommentRecord[];
  readonly reactions: readonly ReactionRecord[];
  /** Creates the git repository (via `git.createRepo`) and the API's record of it; returns `GET /repos` JSON. */
  addRepo(
    fullName: string,
    opts: { files: Record<string, string>; defaultBranch?: string; private?: boolean },
  ): Promise<GitHubRepoJson>;
  /** Changes what callers may do; `push: false` also makes the git server refuse pushes. */
  repoPermissions(fullName: string, permissions: Partial<RepoPermissions>): void;
  /** Pull requests as the API shows them (head/base shas as of the last API read). */
  pulls(fullName: string): GitHubPullJson[];
  /** Submits a review with line comments; returns the `review` object of a `pull_request_review` webhook. */
  addReview(fullName: string, prNumber: number, review: ReviewInput): Promise<GitHubReviewJson>;
  /** Adds a check run to the commit's suite; returns the suite as a `check_suite` webhook carries it. */
  addCheckRun(fullName: string, headSha: string, run: CheckRunInput): Promise<GitHubCheckSuiteJson>;
  /** A comment someone else wrote on an issue or PR; returns it as an `issue_comment` webhook carries it. */
  addIssueComment(
    fullName: string,
    number: number,
    comment: { user: string; body: string },
  ): Record<string, unknown>;
  /** Opens a plain issue (numbered with the pull requests, as on GitHub); returns its number. */
  addIssue(fullName: string, issue: { title: string; body?: string }): number;
  /** Marks the pull request merged (no git merge happens). */
  mergePull(fullName: string, number: number): GitHubPullJson;
  /**
   * The next `times` (default 1) requests matching answer `status` instead. 403/429 default
   * to GitHub's secondary-rate-limit body with `retry-after: 1`; `reply` overrides body and headers.
   * `method` may be `*`.
   */
  failNext(
    method: string,
    path: RegExp,
    status: number,
    times?: number,
    reply?: { body?: unknown; headers?: Record<string, string> },
  ): void;
  close(): Promise<void>;
}

interface Caller {
  kind: FakeGitHubAuth;
  actor: GitHubActor;
  /** Why a JWT was refused, to answer with GitHub's wording. */
  jwtError?: string;
}

interface Failure {
  method: string;
  path: RegExp;
  status: number;
  remaining: number;
  reply: { body?: unknown; headers?: Record<string, string> };
}

/** Stands in for `ctx.repo` on routes outside `/repos/{owner}/{repo}`, which never read it. */
const NO_REPO: RepoRecord = {
  id: 0,
  owner: '',
  name: '',
  fullName: '',
  defaultBranch: 'main',
  private: false,
  permissions: { admin: false, push: false, pull: false },
};

const RATE_LIMIT = 5000;
const SECONDARY_LIMIT =
  'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.';

async function readJson(req: IncomingMessage): Promise<{ ok: true; body: unknown } | { ok: false }> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  const raw = Buffer.concat(parts).toString('utf8');
  if (!raw) return { ok: true, body: null };
  try {
    return { ok: true, body: JSON.parse(raw) };
  } catch {
    return { ok: false };
  }
}

/** Shaped like GitHub's `X-GitHub-Request-Id` (e.g. `C0DE:1A2B:3C4D5E:6F7A8B`). */
const requestId = () =>
  randomBytes(10)
    .toString('hex')
    .toUpperCase()
    .replace(/^(.{4})(.{4})(.{6})(.{6}).*$/, '$1:$2:$3:$4');

const unauthorized = (message: string): Reply => ({
  status: 401,
  body: { message, documentation_url: DOCS },
});

/** 401 unless the caller has the kind of credential the route takes, with GitHub's wording. */
function refuse(routeAuth: Route['auth'], caller: Caller): Reply | null {
  if (routeAuth === 'jwt') {
    return caller.kind === 'jwt'
      ? null
      : unauthorized(caller.jwtError ?? 'A JSON web token could not be decoded');
  }
  if (caller.kind === 'token' || caller.kind === 'installation') return null;
  return unauthorized(caller.kind === 'none' ? 'Requires authentication' : 'Bad credentials');
}

/** A stateful loopback GitHub REST API (v3 JSON) over the repositories of a fake git server. */
export async function startFakeGitHub(opts: {
  git: GitHttpServer;
  token?: string;
  app?: FakeGitHubAppConfig;
}): Promise<FakeGitHub> {
  const { git, app } = opts;
  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, { status: 500, body: { message: String(error) } }, 'none');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const store = new GitHubStore(url, git);
  const requests: FakeGitHubRequest[] = [];
  const unhandled: Array<{ method: string; path: string }> = [];
  const issuedTokens: IssuedInstallationToken[] = [];
  const failures: Failure[] = [];
  const rateReset = String(Math.floor(Date.now() / 1000) + 3600);
  let used = 0;

  const routes: Route[] = [
    ...appRoutes({
      app,
      store,
      tokenTtlMs: () => fake.installationTokenTtlMs,
      issued(token) {
        issuedTokens.push(token);
        git.addToken(token.token, token.expiresAt);
      },
    }),
    ...pullRoutes,
    ...discussionRoutes,
  ];

  function authenticate(header: string | undefined): Caller {
    if (!header) return { kind: 'none', actor: FAKE_USER };
    const [scheme = '', value = ''] = header.trim().split(/\s+/, 2);
    if (!['token', 'bearer'].includes(scheme.toLowerCase())) return { kind: 'bad', actor: FAKE_USER };
    if (fake.token !== undefined && value === fake.token) return { kind: 'token', actor: FAKE_USER };
    const issued = issuedTokens.find((t) => t.token === value);
    if (issued) {
      return { kind: issued.expiresAt.getTime() > Date.now() ? 'installation' : 'bad', actor: FAKE_APP_BOT };
    }
    if (!looksLikeJwt(value)) return { kind: 'bad', actor: FAKE_USER };
    const verdict = verifyAppJwt(value, app);
    return verdict.ok
      ? { kind: 'jwt', actor: FAKE_APP_BOT }
      : { kind: 'bad', actor: FAKE_APP_BOT, jwtError: verdict.message };
  }

  function send(res: ServerResponse, reply: Reply, kind: FakeGitHubAuth) {
    used += 1;
    res.writeHead(reply.status, {
      'x-github-request-id': requestId(),
      'x-github-api-version-selected': '2022-11-28',
      'x-github-media-type': 'github.v3; format=json',
      'x-ratelimit-limit': String(RATE_LIMIT),
      'x-ratelimit-remaining': String(Math.max(0, RATE_LIMIT - used)),
      'x-ratelimit-reset': rateReset,
      'x-ratelimit-used': String(used),
      'x-ratelimit-resource': 'core',
      ...(kind === 'token' ? { 'x-oauth-scopes': fake.scopes, 'x-accepted-oauth-scopes': 'repo' } : {}),
      ...(reply.body === undefined ? {} : { 'content-type': 'application/json; charset=utf-8' }),
      ...reply.headers,
    });
    res.end(reply.body === undefined ? undefined : JSON.stringify(reply.body));
  }

  function takeFailure(method: string, path: string): Reply | null {
    const failure = failures.find((f) => (f.method === '*' || f.method === method) && f.path.test(path));
    if (!failure) return null;
    failure.remaining -= 1;
    if (failure.remaining <= 0) failures.splice(failures.indexOf(failure), 1);
    const throttled = failure.status === 403 || failure.status === 429;
    const message = throttled ? SECONDARY_LIMIT : (STATUS_CODES[failure.status] ?? 'Error');
    return {
      status: failure.status,
      body: failure.reply.body ?? { message, documentation_url: DOCS },
      headers: { ...(throttled ? { 'retry-after': '1' } : {}), ...failure.reply.headers },
    };
  }

  function matchRoute(method: string, path: string): { route: Route; captures: string[] } | null {
    for (const candidate of routes) {
      const match = candidate.method === method ? candidate.pattern.exec(path) : null;
      if (!match) continue;
      return { route: candidate, captures: match.slice(1).map((c) => decodeURIComponent(c ?? '')) };
    }
    return null;
  }

  /** Looks up the path's repository: 404 when unknown or hidden from this caller, 403 for writes without push. */
  function repoFor(found: Route, captures: string[], caller: Caller): RepoRecord | Reply {
    const record = store.repos.get(`${captures[0]}/${captures[1]}`);
    const hidden =
      record?.private && caller.kind === 'token' && !fake.scopes.split(/[,\s]+/).includes('repo');
    if (!record || hidden) return notFound();
    if (found.needsPush && !record.permissions.push) {
      const who = caller.kind === 'installation' ? 'integration' : 'personal access token';
      return { status: 403, body: { message: `Resource not accessible by ${who}`, documentation_url: DOCS } };
    }
    return record;
  }

  async function dispatch(method: string, target: URL, body: unknown, caller: Caller): Promise<Reply> {
    const path = target.pathname;
    const failure = takeFailure(method, path);
    if (failure) return failure;
    const matched = matchRoute(method, path);
    if (!matched) {
      unhandled.push({ method, path });
      return notFound();
    }
    const { route, captures } = matched;
    const refused = refuse(route.auth, caller);
    if (refused) return refused;
    const repo = route.repoScoped ? repoFor(route, captures, caller) : NO_REPO;
    if ('status' in repo) return repo;
    const ctx: RouteContext = {
      store,
      path,
      query: target.searchParams,
      body: body !== null && typeof body === 'object' ? (body as Record<string, unknown>) : {},
      actor: caller.actor,
      params: route.repoScoped ? captures.slice(2) : captures,
      repo,
    };
    return route.handle(ctx);
  }

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const method = req.method ?? 'GET';
    const target = new URL(req.url ?? '/', url);
    const caller = authenticate(req.headers.authorization);
    const parsed = await readJson(req);
    const body = parsed.ok ? parsed.body : null;
    requests.push({ method, path: target.pathname, query: target.search.slice(1), auth: caller.kind, body });
    const reply = parsed.ok
      ? await dispatch(method, target, body, caller)
      : { status: 400, body: { message: 'Problems parsing JSON', documentation_url: DOCS } };
    send(res, reply, caller.kind);
  }

  const fake: FakeGitHub = {
    url,
    token: opts.token,
    scopes: 'repo',
    installationTokenTtlMs: 3_600_000,
    issuedTokens,
    requests,
    unhandled,
    get comments() {
      return store.comments;
    },
    get reviewComments() {
      return store.reviewComments;
    },
    get reviewReplies() {
      return store.reviewComments.filter((c) => c.inReplyToId !== undefined);
    },
    get reactions() {
      return store.reactions;
    },
    async addRepo(fullName, repoOpts) {
      return store.repoJson(await store.addRepo(fullName, repoOpts));
    },
    repoPermissions: (fullName, permissions) => store.setPermissions(fullName, permissions),
    pulls: (fullName) => store.pulls.filter((p) => p.fullName === fullName).map((p) => store.pullJson(p)),
    addReview: (fullName, prNumber, review) => store.addReview(fullName, prNumber, review),
    addCheckRun: (fullName, headSha, run) => store.addCheckRun(fullName, headSha, run),
    mergePull: (fullName, number) => store.mergePull(fullName, number),
    addIssueComment(fullName, number, comment) {
      const at = new Date().toISOString();
      const record = {
        id: store.nextId(),
        fullName,
        issueNumber: number,
        body: comment.body,
        bodies: [comment.body],
        user: { login: comment.user, id: 7000 + store.comments.length, type: 'User' as const },
        createdAt: at,
        updatedAt: at,
      };
      store.comments.push(record);
      return issueCommentJson(record, store.api);
    },
    addIssue(fullName, issue) {
      const number = store.nextNumber(fullName);
      store.issues.push({ fullName, number, title: issue.title, body: issue.body ?? '' });
      return number;
    },
    failNext(method, path, status, times = 1, reply = {}) {
      failures.push({ method: method.toUpperCase(), path, status, remaining: times, reply });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return fake;
}
