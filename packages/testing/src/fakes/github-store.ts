import type { GitHttpServer } from './git-http.ts';
import {
  type CheckConclusion,
  type CheckOutput,
  type CheckRunRecord,
  type CheckSuiteRecord,
  checkSuiteJson,
  type GitHubActor,
  type IssueCommentRecord,
  nowIso,
  type PullRecord,
  pullJson,
  type ReactionRecord,
  type RepoPermissions,
  type RepoRecord,
  type ReviewCommentRecord,
  type ReviewRecord,
  type ReviewState,
  repoJson,
  reviewJson,
} from './github-state.ts';

export interface ReviewInput {
  /** The reviewer's login. */
  user: string;
  state: ReviewState;
  body: string;
  comments?: Array<{ path: string; line: number; body: string }>;
}

export interface CheckRunInput {
  name: string;
  conclusion?: CheckConclusion | null;
  /** Default `completed` when a conclusion is given, else `in_progress`. */
  status?: CheckRunRecord['status'];
  output?: Partial<CheckOutput>;
}

export const FAKE_USER: GitHubActor = { login: 'fake-user', id: 583231, type: 'User' };
export const FAKE_APP_BOT: GitHubActor = { login: 'fake-app[bot]', id: 41898282, type: 'Bot' };

/** A stable made-up id for a login, so the same reviewer always has the same `user.id`. */
export function actorFor(login: string): GitHubActor {
  let hash = 7;
  for (const char of login) hash = (hash * 31 + char.charCodeAt(0)) % 9_000_000;
  return { login, id: 1_000_000 + hash, type: login.endsWith('[bot]') ? 'Bot' : 'User' };
}

/** The fake's whole state, shared by the routes and the test-side helpers. */
export class GitHubStore {
  readonly repos = new Map<string, RepoRecord>();
  readonly pulls: PullRecord[] = [];
  readonly comments: IssueCommentRecord[] = [];
  readonly reviews: ReviewRecord[] = [];
  readonly reviewComments: ReviewCommentRecord[] = [];
  readonly reactions: ReactionRecord[] = [];
  /** Plain issues (not pull requests), for comments on them. */
  readonly issues: Array<{ fullName: string; number: number; title: string; body: string }> = [];
  readonly suites: CheckSuiteRecord[] = [];
  readonly runs: CheckRunRecord[] = [];
  private lastId = 100_000;

  constructor(
    readonly api: string,
    readonly git: GitHttpServer,
  ) {}

  nextId(): number {
    this.lastId += 1;
    return this.lastId;
  }

  /** Pull requests and issues share one number sequence per repository, as on GitHub. */
  nextNumber(fullName: string): number {
    const numbers = [...this.pulls, ...this.issues]
      .filter((p) => p.fullName === fullName)
      .map((p) => p.number);
    return Math.max(0, ...numbers) + 1;
  }

  pull(fullName: string, number: number): PullRecord | undefined {
    return this.pulls.find((p) => p.fullName === fullName && p.number === number);
  }

  /** Open pull requests follow their branches, as GitHub's do after each push. */
  async refreshPulls(fullName: string): Promise<void> {
    const open = this.pulls.filter((p) => p.fullName === fullName && p.state === 'open');
    if (open.length === 0) return;
    const branches = await this.git.branches(fullName);
    for (const pull of open) {
      pull.head.sha = branches[pull.head.ref] ?? pull.head.sha;
      pull.base.sha = branches[pull.base.ref] ?? pull.base.sha;
    }
  }

  /** A branch name or a full sha → sha; null when neither names a commit here. */
  async resolveRef(fullName: string, ref: string): Promise<string | null> {
    if (/^[0-9a-f]{40}$/.test(ref)) return ref;
    const branches = await this.git.branches(fullName);
    return branches[ref.replace(/^(refs\/)?heads\//, '')] ?? null;
  }

  repoJson(repo: RepoRecord) {
    return repoJson(repo, this.api, this.git.url);
  }

  pullJson(pull: PullRecord) {
    const repo = this.repos.get(pull.fullName);
    if (!repo) throw new Error(`fake github: pull of unknown repository ${pull.fullName}`);
    return pullJson(pull, repo, this.api, this.git.url);
  }

  suiteJson(suite: CheckSuiteRecord) {
    const runs = this.runs.filter((r) => r.suiteId === suite.id);
    const pulls = this.pulls
      .filter((p) => p.fullName === suite.fullName && p.state === 'open' && p.head.sha === suite.headSha)
      .map((p) => this.pullJson(p));
    return checkSuiteJson(suite, runs, pulls, this.api);
  }

  repoOf(fullName: string): RepoRecord {
    const repo = this.repos.get(fullName);
    if (!repo) throw new Error(`fake github: no repository ${fullName}; addRepo it first`);
    return repo;
  }

  pullOf(fullName: string, number: number): PullRecord {
    const pull = this.pull(fullName, number);
    if (!pull) throw new Error(`fake github: no pull request ${fullName}#${number}`);
    return pull;
  }

  async addRepo(
    fullName: string,
    opts: { files: Record<string, string>; defaultBranch?: string; private?: boolean },
  ): Promise<RepoRecord> {
    const defaultBranch = opts.defaultBranch ?? 'main';
    await this.git.createRepo(fullName, opts.files, { branch: defaultBranch });
    const [owner = '', name = ''] = fullName.split('/');
    const repo: RepoRecord = {
      id: this.nextId(),
      owner,
      name,
      fullName,
      defaultBranch,
      private: opts.private ?? false,
      permissions: { admin: true, push: true, pull: true },
    };
    this.repos.set(fullName, repo);
    return repo;
  }

  /** Without push, the git server refuses pushes too, as GitHub would. */
  setPermissions(fullName: string, permissions: Partial<RepoPermissions>): void {
    const repo = this.repoOf(fullName);
    Object.assign(repo.permissions, permissions);
    if (repo.permissions.push) this.git.readOnly.delete(fullName);
    else this.git.readOnly.add(fullName);
  }

  async addReview(fullName: string, prNumber: number, input: ReviewInput) {
    await this.refreshPulls(fullName);
    const pull = this.pullOf(fullName, prNumber);
    const at = nowIso();
    const user = actorFor(input.user);
    const review: ReviewRecord = {
      id: this.nextId(),
      fullName,
      pullNumber: prNumber,
      user,
      state: input.state,
      body: input.body,
      commitId: pull.head.sha,
      submittedAt: at,
    };
    this.reviews.push(review);
    for (const comment of input.comments ?? []) {
      this.reviewComments.push({
        id: this.nextId(),
        fullName,
        pullNumber: prNumber,
        reviewId: review.id,
        ...comment,
        user,
        commitId: pull.head.sha,
        createdAt: at,
      });
    }
    return reviewJson(review, this.api, 'webhook');
  }

  /** Check runs of one commit share one suite (one CI app). */
  async addCheckRun(fullName: string, headSha: string, run: CheckRunInput) {
    this.repoOf(fullName);
    await this.refreshPulls(fullName);
    let suite = this.suites.find((s) => s.fullName === fullName && s.headSha === headSha);
    if (!suite) {
      const branches = await this.git.branches(fullName);
      const headBranch = Object.entries(branches).find(([, sha]) => sha === headSha)?.[0] ?? null;
      suite = { id: this.nextId(), fullName, headSha, headBranch };
      this.suites.push(suite);
    }
    const conclusion = run.conclusion ?? null;
    const status = run.status ?? (conclusion ? 'completed' : 'in_progress');
    this.runs.push({
      id: this.nextId(),
      suiteId: suite.id,
      fullName,
      name: run.name,
      headSha,
      status,
      conclusion,
      output: { title: null, summary: null, text: null, ...run.output },
      startedAt: nowIso(),
      completedAt: status === 'completed' ? nowIso() : null,
    });
    return this.suiteJson(suite);
  }

  /** Marks a pull request merged; no git merge happens. */
  mergePull(fullName: string, number: number) {
    const pull = this.pullOf(fullName, number);
    const at = nowIso();
    Object.assign(pull, { state: 'closed', merged: true, mergedAt: at, closedAt: at, updatedAt: at });
    return this.pullJson(pull);
  }
}
