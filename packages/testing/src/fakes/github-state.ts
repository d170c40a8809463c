/** What the fake GitHub stores, and how each record looks on the wire (api.github.com's field names). */

export interface GitHubActor {
  login: string;
  id: number;
  type: 'User' | 'Bot';
}

export interface RepoPermissions {
  admin: boolean;
  push: boolean;
  pull: boolean;
}

export interface RepoRecord {
  id: number;
  owner: string;
  name: string;
  fullName: string;
  defaultBranch: string;
  private: boolean;
  permissions: RepoPermissions;
}

export interface PullRecord {
  id: number;
  fullName: string;
  number: number;
  title: string;
  body: string | null;
  state: 'open' | 'closed';
  draft: boolean;
  head: { ref: string; sha: string };
  base: { ref: string; sha: string };
  user: GitHubActor;
  merged: boolean;
  mergedAt: string | null;
  closedAt: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface IssueCommentRecord {
  id: number;
  fullName: string;
  issueNumber: number;
  body: string;
  /** Every body the comment has had, first to current. */
  bodies: string[];
  user: GitHubActor;
  createdAt: string;
  updatedAt: string;
}

export type ReviewState = 'CHANGES_REQUESTED' | 'COMMENTED' | 'APPROVED';

export interface ReviewRecord {
  id: number;
  fullName: string;
  pullNumber: number;
  user: GitHubActor;
  state: ReviewState;
  body: string;
  commitId: string;
  submittedAt: string;
}

export interface ReviewCommentRecord {
  id: number;
  fullName: string;
  pullNumber: number;
  reviewId: number;
  path: string;
  line: number;
  body: string;
  user: GitHubActor;
  commitId: string;
  /** Set on replies: the thread's first comment. */
  inReplyToId?: number;
  createdAt: string;
}

export interface ReactionRecord {
  id: number;
  fullName: string;
  subject: 'issue_comment' | 'pull_request_review_comment';
  commentId: number;
  content: string;
  user: GitHubActor;
  createdAt: string;
}

export type CheckConclusion =
  | 'success'
  | 'failure'
  | 'neutral'
  | 'cancelled'
  | 'skipped'
  | 'timed_out'
  | 'action_required';

export interface CheckOutput {
  title: string | null;
  summary: string | null;
  text: string | null;
}

export interface CheckRunRecord {
  id: number;
  suiteId: number;
  fullName: string;
  name: string;
  headSha: string;
  status: 'queued' | 'in_progress' | 'completed';
  conclusion: CheckConclusion | null;
  output: CheckOutput;
  startedAt: string;
  completedAt: string | null;
}

export interface CheckSuiteRecord {
  id: number;
  fullName: string;
  headSha: string;
  headBranch: string | null;
}

export const WEB = 'https://github.test';
export const nowIso = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
export const nodeId = (kind: string, id: number) =>
  `${kind}_kw${Buffer.from(String(id)).toString('base64url')}`;

export function actorJson(actor: GitHubActor) {
  return {
    login: actor.login,
    id: actor.id,
    node_id: nodeId(actor.type === 'Bot' ? 'BOT' : 'U', actor.id),
    avatar_url: `${WEB}/avatars/${actor.login}`,
    html_url: `${WEB}/${actor.login}`,
    type: actor.type,
    site_admin: false,
  };
}

export function repoJson(repo: RepoRecord, api: string, gitUrl: string) {
  const owner: GitHubActor = { login: repo.owner, id: 1, type: 'User' };
  return {
    id: repo.id,
    node_id: nodeId('R', repo.id),
    name: repo.name,
    full_name: repo.fullName,
    private: repo.private,
    visibility: repo.private ? 'private' : 'public',
    owner: actorJson(owner),
    html_url: `${WEB}/${repo.fullName}`,
    url: `${api}/repos/${repo.fullName}`,
    clone_url: `${gitUrl}/${repo.fullName}.git`,
    fork: false,
    archived: false,
    disabled: false,
    default_branch: repo.defaultBranch,
    permissions: { ...repo.permissions, maintain: repo.permissions.admin, triage: repo.permissions.push },
  };
}

export function pullJson(pull: PullRecord, repo: RepoRecord, api: string, gitUrl: string) {
  const path = `${repo.fullName}/pulls/${pull.number}`;
  const html = `${WEB}/${repo.fullName}/pull/${pull.number}`;
  const side = (end: { ref: string; sha: string }) => ({
    label: `${repo.owner}:${end.ref}`,
    ref: end.ref,
    sha: end.sha,
    user: actorJson({ login: repo.owner, id: 1, type: 'User' }),
    repo: repoJson(repo, api, gitUrl),
  });
  return {
    url: `${api}/repos/${path}`,
    id: pull.id,
    node_id: nodeId('PR', pull.id),
    html_url: html,
    diff_url: `${html}.diff`,
    patch_url: `${html}.patch`,
    issue_url: `${api}/repos/${repo.fullName}/issues/${pull.number}`,
    comments_url: `${api}/repos/${repo.fullName}/issues/${pull.number}/comments`,
    review_comments_url: `${api}/repos/${path}/comments`,
    commits_url: `${api}/repos/${path}/commits`,
    statuses_url: `${api}/repos/${repo.fullName}/statuses/${pull.head.sha}`,
    number: pull.number,
    state: pull.state,
    locked: false,
    title: pull.title,
    user: actorJson(pull.user),
    body: pull.body,
    labels: [],
    assignees: [],
    requested_reviewers: [],
    created_at: pull.createdAt,
    updated_at: pull.updatedAt,
    closed_at: pull.closedAt,
    merged_at: pull.mergedAt,
    merge_commit_sha: pull.merged ? pull.head.sha : null,
    draft: pull.draft,
    head: side(pull.head),
    base: side(pull.base),
    author_association: 'OWNER',
    merged: pull.merged,
    mergeable: null,
    mergeable_state: 'unknown',
  };
}

export type GitHubPullJson = ReturnType<typeof pullJson>;

export function issueCommentJson(comment: IssueCommentRecord, api: string) {
  return {
    id: comment.id,
    node_id: nodeId('IC', comment.id),
    url: `${api}/repos/${comment.fullName}/issues/comments/${comment.id}`,
    html_url: `${WEB}/${comment.fullName}/pull/${comment.issueNumber}#issuecomment-${comment.id}`,
    issue_url: `${api}/repos/${comment.fullName}/issues/${comment.issueNumber}`,
    body: comment.body,
    user: actorJson(comment.user),
    created_at: comment.createdAt,
    updated_at: comment.updatedAt,
    author_association: 'OWNER',
  };
}

/** REST answers say `CHANGES_REQUESTED`; webhook payloads say `changes_requested`. */
export function reviewJson(review: ReviewRecord, api: string, style: 'rest' | 'webhook' = 'rest') {
  const pr = `${WEB}/${review.fullName}/pull/${review.pullNumber}`;
  const prApi = `${api}/repos/${review.fullName}/pulls/${review.pullNumber}`;
  return {
    id: review.id,
    node_id: nodeId('PRR', review.id),
    user: actorJson(review.user),
    body: review.body,
    state: style === 'rest' ? review.state : review.state.toLowerCase(),
    html_url: `${pr}#pullrequestreview-${review.id}`,
    pull_request_url: prApi,
    author_association: 'OWNER',
    submitted_at: review.submittedAt,
    commit_id: review.commitId,
    _links: { html: { href: `${pr}#pullrequestreview-${review.id}` }, pull_request: { href: prApi } },
  };
}

export type GitHubReviewJson = ReturnType<typeof reviewJson>;

export function reviewCommentJson(comment: ReviewCommentRecord, api: string) {
  const prApi = `${api}/repos/${comment.fullName}/pulls/${comment.pullNumber}`;
  return {
    id: comment.id,
    node_id: nodeId('PRRC', comment.id),
    url: `${api}/repos/${comment.fullName}/pulls/comments/${comment.id}`,
    html_url: `${WEB}/${comment.fullName}/pull/${comment.pullNumber}#discussion_r${comment.id}`,
    pull_request_url: prApi,
    pull_request_review_id: comment.reviewId,
    diff_hunk: '',
    path: comment.path,
    line: comment.line,
    original_line: comment.line,
    side: 'RIGHT',
    start_line: null,
    subject_type: 'line',
    commit_id: comment.commitId,
    original_commit_id: comment.commitId,
    user: actorJson(comment.user),
    body: comment.body,
    created_at: comment.createdAt,
    updated_at: comment.createdAt,
    author_association: 'OWNER',
    ...(comment.inReplyToId === undefined ? {} : { in_reply_to_id: comment.inReplyToId }),
  };
}

export function reactionJson(reaction: ReactionRecord) {
  return {
    id: reaction.id,
    node_id: nodeId('REA', reaction.id),
    user: actorJson(reaction.user),
    content: reaction.content,
    created_at: reaction.createdAt,
  };
}

const FAKE_CI = {
  id: 15368,
  slug: 'fake-ci',
  name: 'Fake CI',
  owner: { login: 'fake-ci', id: 2, type: 'Organization' },
};

export function checkRunJson(run: CheckRunRecord, api: string) {
  const html = `${WEB}/${run.fullName}/runs/${run.id}`;
  return {
    id: run.id,
    node_id: nodeId('CR', run.id),
    name: run.name,
    head_sha: run.headSha,
    external_id: '',
    url: `${api}/repos/${run.fullName}/check-runs/${run.id}`,
    html_url: html,
    details_url: html,
    status: run.status,
    conclusion: run.conclusion,
    started_at: run.startedAt,
    completed_at: run.completedAt,
    output: {
      ...run.output,
      annotations_count: 0,
      annotations_url: `${api}/repos/${run.fullName}/check-runs/${run.id}/annotations`,
    },
    check_suite: { id: run.suiteId },
    app: FAKE_CI,
    pull_requests: [],
  };
}

/** The worst conclusion wins, roughly as GitHub rolls a suite up. */
const SEVERITY: CheckConclusion[] = [
  'action_required',
  'cancelled',
  'timed_out',
  'failure',
  'neutral',
  'success',
  'skipped',
];

export function checkSuiteJson(
  suite: CheckSuiteRecord,
  runs: CheckRunRecord[],
  pulls: GitHubPullJson[],
  api: string,
) {
  const done = runs.every((r) => r.status === 'completed');
  const conclusion = done ? (SEVERITY.find((c) => runs.some((r) => r.conclusion === c)) ?? null) : null;
  return {
    id: suite.id,
    node_id: nodeId('CS', suite.id),
    head_branch: suite.headBranch,
    head_sha: suite.headSha,
    status: done ? 'completed' : 'in_progress',
    conclusion,
    url: `${api}/repos/${suite.fullName}/check-suites/${suite.id}`,
    check_runs_url: `${api}/repos/${suite.fullName}/check-suites/${suite.id}/check-runs`,
    before: null,
    after: suite.headSha,
    latest_check_runs_count: runs.length,
    app: FAKE_CI,
    pull_requests: pulls.map((p) => ({
      url: p.url,
      id: p.id,
      number: p.number,
      head: { ref: p.head.ref, sha: p.head.sha, repo: { id: p.head.repo.id, name: p.head.repo.name } },
      base: { ref: p.base.ref, sha: p.base.sha, repo: { id: p.base.repo.id, name: p.base.repo.name } },
    })),
  };
}

export type GitHubCheckSuiteJson = ReturnType<typeof checkSuiteJson>;
export type GitHubRepoJson = ReturnType<typeof repoJson>;
