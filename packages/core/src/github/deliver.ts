import {
  type ApprovalDecision,
  GitError,
  type GitWorkspace,
  type RunResult,
  withShadowGit,
} from '@ccl/agents';
import { FILE_VARIANTS } from '@ccl/config';
import type { RunGithub, RunOptions } from '@ccl/contracts';
import type { Execution } from '@ccl/db';
import { writeAudit } from '../audit.ts';
import { makeCtx, type RequestCtx } from '../context.ts';
import type { CoreDeps } from '../deps.ts';
import { oneLine } from '../text.ts';
import { auditGithubWrite } from './audit-github.ts';
import { describeGithubError, type GithubAccess, gitAuthEnv, githubAccess } from './client.ts';
import {
  type CommitIdentity,
  commitWorkTree,
  fetchBranch,
  pushCommit,
  RebaseConflict,
  rebaseCommit,
} from './git-delivery.ts';
import type { GithubOrigin } from './origin.ts';
import { describeFindings, scanDiff } from './secret-scan.ts';

/** The linked repository as a run sees it: where to clone from and what to work on. */
export interface GithubCheckout {
  access: GithubAccess;
  repo: string;
  /** `clone_url` as the API returned it; never holds a credential. */
  cloneUrl: string;
  /** The branch a new PR targets. */
  base: string;
  /** What the workspace checks out: the base, or the PR branch of a follow-up. */
  checkoutBranch: string;
}

/** A delivery problem the run ends FAILED with (its message is shown as is). */
export class DeliveryFailed extends Error {
  override name = 'DeliveryFailed';
}

/** The credential for a project's repository, or a clear error when none is configured. */
export function accessFor(
  deps: Pick<CoreDeps, 'config' | 'githubApps'>,
  repo: string,
  projectSecrets: Readonly<Record<string, string>>,
) {
  const projectToken = projectSecrets.GITHUB_TOKEN;
  const access = githubAccess({
    config: deps.config,
    ...(projectToken ? { projectToken } : {}),
    ...(deps.githubApps ? { apps: deps.githubApps } : {}),
    repo,
  });
  if (!access) {
    throw new DeliveryFailed(
      `project is linked to GitHub repository ${repo} but no GitHub credential is configured: set the project's GITHUB_TOKEN secret, the server's GITHUB_TOKEN, or GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY`,
    );
  }
  return access;
}

/** Reads the repository once per run: its clone URL and default branch. */
export async function prepareCheckout(
  deps: CoreDeps,
  github: RunGithub,
  projectSecrets: Readonly<Record<string, string>>,
  origin: GithubOrigin | null,
): Promise<GithubCheckout> {
  const access = accessFor(deps, github.repo, projectSecrets);
  const [owner, name] = github.repo.split('/') as [string, string];
  let repo: { clone_url: string; default_branch: string };
  try {
    repo = (await access.octokit.rest.repos.get({ owner, repo: name })).data;
  } catch (err) {
    throw new DeliveryFailed(describeGithubError(err));
  }
  const base = github.base ?? repo.default_branch;
  return {
    access,
    repo: github.repo,
    cloneUrl: repo.clone_url,
    base,
    checkoutBranch: origin?.pull_request?.branch ?? base,
  };
}

/** What became of a run's work; stored as the execution's `meta.pull_request` or `meta.delivery`. */
export type Delivery =
  | { pull_request: { url: string; number: number; branch: string; commit: string; follow_up?: boolean } }
  | { skipped: string };

/** The worker's side of a delivery: approvals and events go through the running execution. */
export interface DeliveryHost {
  signal: AbortSignal;
  ask(request: {
    id: string;
    kind: string;
    description: string;
    details: Record<string, unknown>;
  }): Promise<ApprovalDecision>;
  event(type: string, data: Record<string, unknown>): Promise<void>;
}

export interface DeliveryInput {
  execution: Execution;
  taskTitle: string;
  /** The card's number, for links in the PR's body. */
  taskNumber: number;
  options: RunOptions & { github: RunGithub };
  checkout: GithubCheckout;
  origin: GithubOrigin | null;
  workspace: GitWorkspace;
  result: RunResult;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  projectSecrets: Readonly<Record<string, string>>;
  /** The agent's plan (its first message), for the PR body. */
  plan: string | null;
}

/** Values the diff must not carry: the server's keys and the project's secrets. */
function knownSecrets(deps: CoreDeps, projectSecrets: Readonly<Record<string, string>>, token: string) {
  const server = FILE_VARIANTS.flatMap((name) => {
    const value = deps.config[name];
    if (Array.isArray(value)) return value.map((v) => v.split(':').slice(1).join(':') || v);
    return typeof value === 'string' ? [value] : [];
  });
  return [...server, ...Object.values(projectSecrets), token];
}

/** `clawlink/<card-slug>-<short id>`: readable on GitHub, unique per execution. */
export function branchName(title: string, executionId: string): string {
  const slug =
    title
      .toLowerCase()
      .normalize('NFKD')
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 40)
      .replace(/-+$/, '') || 'task';
  return `clawlink/${slug}-${executionId.slice(0, 8)}`;
}

function diffStat(unified: string) {
  let added = 0;
  let removed = 0;
  for (const line of unified.split('\n')) {
    if (line.startsWith('+') && !line.startsWith('+++')) added++;
    else if (line.startsWith('-') && !line.startsWith('---')) removed++;
  }
  return { added, removed };
}

/**
 * Turns a completed run's workspace into a pull request (or, for a follow-up, new commits on its
 * PR's branch). Runs after the runner has ended: the agent is gone, and the credential is handed to
 * one git process at a time through its environment, never written to the workspace.
 */
export async function deliver(deps: CoreDeps, host: DeliveryHost, input: DeliveryInput): Promise<Delivery> {
  const { execution, options, checkout, origin, workspace } = input;
  const followUp = origin?.pull_request;
  if (!followUp && options.github.pull_requests === 'off') return { skipped: 'pull requests are off' };
  const diff = await workspace.diff();
  if (diff.files.length === 0) return { skipped: 'no changes' };
  const ctx = actingCtx(execution);
  const token = await checkout.access.token();

  const findings = scanDiff(diff.unified, knownSecrets(deps, input.projectSecrets, token));
  if (findings.length > 0) {
    const where = findings.map(({ file, line, kind }) => ({ file, line, kind }));
    await auditGithubWrite(deps, ctx.actor.userId, 'github.secret_scan', checkout.repo, 'DENIED', {
      findings: where,
    });
    const decision = await host.ask({
      id: `secret-scan-${execution.id.slice(0, 8)}`,
      kind: 'secret_scan',
      description: `${describeFindings(findings)}. Nothing was pushed; approve to push anyway, deny to keep the work here.`,
      details: { findings: where, repo: checkout.repo },
    });
    await auditGithubWrite(deps, ctx.actor.userId, 'github.secret_scan.decision', checkout.repo, 'ALLOWED', {
      approved: decision.approved,
      by: decision.by ?? null,
    });
    if (!decision.approved)
      return { skipped: 'the secret scan found possible secrets and the push was declined' };
  }

  const stat = diffStat(diff.unified);
  if (!followUp && options.github.pull_requests === 'approve') {
    const decision = await host.ask({
      id: `pull-request-${execution.id.slice(0, 8)}`,
      kind: 'pull_request',
      description: `Open a pull request on ${checkout.repo} into ${checkout.base}: ${diff.files.length} file(s) changed, +${stat.added} −${stat.removed} (${diff.files.slice(0, 10).join(', ')}${diff.files.length > 10 ? ', …' : ''})`,
      details: { repo: checkout.repo, base: checkout.base, files: diff.files, ...stat },
    });
    if (!decision.approved) return { skipped: 'the pull request was declined' };
  }

  const branch = followUp?.branch ?? branchName(input.taskTitle, execution.id);
  const commit = await pushWork(deps, host, input, branch, token, ctx);
  await host.event('github', { pushed: { repo: checkout.repo, branch, commit } });
  if (followUp) {
    return {
      pull_request: {
        url: `${(await pullUrl(checkout, followUp.number)) ?? ''}`,
        number: followUp.number,
        branch,
        commit,
        follow_up: true,
      },
    };
  }
  const pr = await openPullRequest(deps, input, branch, ctx);
  return { pull_request: { ...pr, branch, commit } };
}

function actingCtx(execution: Execution): RequestCtx {
  return makeCtx(
    { userId: execution.userId, roleName: 'SYSTEM', permissions: [], via: 'system' },
    `job-${execution.id}`,
  );
}

/** Commits the work tree on the branch's current head and pushes it; one rebase if the head moved. */
async function pushWork(
  deps: CoreDeps,
  host: DeliveryHost,
  input: DeliveryInput,
  branch: string,
  token: string,
  ctx: RequestCtx,
): Promise<string> {
  const { checkout, workspace, execution, origin } = input;
  const auth = gitAuthEnv(token);
  const who = identity(deps, execution);
  const message = await commitMessage(deps, input);
  return withShadowGit(
    workspace.dir,
    async (shadow) => {
      let commit = await commitWorkTree(shadow, workspace.baseCommit, message, who, host.signal);
      // The branch the work was based on: the PR branch for a follow-up, the base for a new PR.
      const onto = origin?.pull_request ? branch : checkout.base;
      try {
        const head = await fetchBranch(shadow, checkout.cloneUrl, onto, auth, host.signal);
        if (head && head !== workspace.baseCommit) {
          commit = await rebaseCommit(shadow, commit, workspace.baseCommit, head, onto, who);
          await host.event('github', { rebased: { onto, head } });
        }
        // A branch of this execution's own (a retried job pushes it again) is replaced; a PR's branch is not.
        let pushed = await pushCommit(shadow, checkout.cloneUrl, commit, branch, auth, {
          force: !origin?.pull_request,
          signal: host.signal,
        });
        if (!pushed) {
          const moved = await fetchBranch(shadow, checkout.cloneUrl, branch, auth, host.signal);
          if (!moved) throw new DeliveryFailed(`the push to ${branch} was refused and the branch is gone`);
          const parent = (await shadow.run(['rev-parse', `${commit}^`])).trim();
          commit = await rebaseCommit(shadow, commit, parent, moved, branch, who);
          pushed = await pushCommit(shadow, checkout.cloneUrl, commit, branch, auth, { signal: host.signal });
          if (!pushed)
            throw new DeliveryFailed(`the push to ${branch} was refused twice: the branch keeps moving`);
        }
      } catch (err) {
        const reason =
          err instanceof RebaseConflict || err instanceof DeliveryFailed ? err.message : pushError(err);
        await auditGithubWrite(deps, ctx.actor.userId, 'github.push', checkout.repo, 'FAILED', {
          branch,
          reason,
        });
        throw err instanceof RebaseConflict ? new DeliveryFailed(err.message) : new DeliveryFailed(reason);
      }
      await auditGithubWrite(deps, ctx.actor.userId, 'github.push', checkout.repo, 'ALLOWED', {
        branch,
        commit,
      });
      return commit;
    },
    host.signal,
  );
}

function pushError(err: unknown): string {
  if (err instanceof GitError) {
    return `could not push to GitHub: ${err.stderr.trim().split('\n').slice(-2).join(' ') || err.message}`;
  }
  return `could not push to GitHub: ${(err as Error).message}`;
}

function identity(deps: CoreDeps, execution: Execution): CommitIdentity {
  return {
    authorName: `${execution.agentType} agent (ClawLink)`,
    authorEmail: `${execution.agentType}-agent@clawlink.invalid`,
    committerName: 'ClawLink',
    committerEmail: `clawlink@${new URL(deps.config.PUBLIC_URL ?? 'http://clawlink.invalid').hostname}`,
  };
}

async function commitMessage(deps: CoreDeps, input: DeliveryInput): Promise<string> {
  const { execution } = input;
  const user = await deps.prisma.user.findUnique({
    where: { id: execution.userId },
    select: { id: true, name: true, githubLogin: true },
  });
  const title = input.origin?.pull_request
    ? `Address ${input.origin.kind === 'ci' ? 'CI failures' : 'review comments'}: ${input.taskTitle}`
    : input.taskTitle;
  const summary = typeof input.result.result === 'string' ? input.result.result : '';
  const trailers = [
    user?.githubLogin
      ? `Co-authored-by: ${user.name ?? user.githubLogin} <${user.githubLogin}@users.noreply.github.com>`
      : `Requested-by: ${user?.name ?? execution.userId}`,
    `ClawLink-Task: ${execution.taskId}`,
    `ClawLink-Execution: ${execution.id}`,
  ];
  return `${oneLine(title, 72)}\n\n${summary.slice(0, 4000)}\n\n${trailers.join('\n')}`.replace(
    /\n{3,}/g,
    '\n\n',
  );
}

/** The card on the board, by its number (`/tasks/42`). */
export function cardUrl(deps: CoreDeps, taskNumber: number): string {
  const base = deps.config.PUBLIC_URL ?? `http://${deps.config.HOST}:${deps.config.PORT}`;
  return `${base.replace(/\/$/, '')}/tasks/${taskNumber}`;
}

/**
 * A link to the card for GitHub texts: "card 42", never "#42", which GitHub would link to its own
 * issue 42.
 */
export function cardLink(deps: CoreDeps, taskNumber: number): string {
  return `[card ${taskNumber}](${cardUrl(deps, taskNumber)})`;
}

/** The number of the card a run belongs to. */
export async function taskNumberOf(deps: Pick<CoreDeps, 'prisma'>, taskId: string): Promise<number> {
  const task = await deps.prisma.task.findUniqueOrThrow({ where: { id: taskId }, select: { number: true } });
  return task.number;
}

function prBody(deps: CoreDeps, input: DeliveryInput): string {
  const { execution, usage } = input;
  const quote = (text: string) =>
    text
      .slice(0, 6000)
      .split('\n')
      .map((l) => `> ${l}`)
      .join('\n');
  const summary =
    typeof input.result.result === 'string' ? input.result.result : JSON.stringify(input.result.result);
  // A PR for a `/clawlink` command on an issue points back at it (a command on a PR pushes to that PR).
  const issue = input.origin?.kind === 'command' ? input.origin.comment?.issue_number : undefined;
  return [
    `Opened by ClawLink for ${cardLink(deps, input.taskNumber)}: ${input.taskTitle}.`,
    ...(issue ? ['', `Refs #${issue}`] : []),
    '',
    '### Task',
    quote(execution.prompt),
    ...(input.plan ? ['', '### Plan', quote(input.plan)] : []),
    ...(summary ? ['', "### Agent's summary", quote(summary)] : []),
    '',
    '### Run',
    `- Agent: \`${execution.agentType}\``,
    `- Tokens: ${usage.input_tokens} in, ${usage.output_tokens} out`,
    `- Cost: $${usage.cost_usd.toFixed(4)}`,
    `- Card: ${input.taskNumber} (${cardUrl(deps, input.taskNumber)})`,
  ].join('\n');
}

async function pullUrl(checkout: GithubCheckout, number: number): Promise<string | null> {
  const [owner, repo] = checkout.repo.split('/') as [string, string];
  try {
    return (await checkout.access.octokit.rest.pulls.get({ owner, repo, pull_number: number })).data.html_url;
  } catch {
    return null;
  }
}

/**
 * Exactly one PR per execution: an open PR for the branch (a job that died after opening it and
 * ran again) is taken over instead of opening a second.
 */
async function openPullRequest(
  deps: CoreDeps,
  input: DeliveryInput,
  branch: string,
  ctx: RequestCtx,
): Promise<{ url: string; number: number }> {
  const { checkout, execution, options } = input;
  const [owner, repo] = checkout.repo.split('/') as [string, string];
  const octokit = checkout.access.octokit;
  let pr: { html_url: string; number: number };
  let reused = false;
  try {
    const open = await octokit.rest.pulls.list({ owner, repo, state: 'open', head: `${owner}:${branch}` });
    const existing = open.data[0];
    if (existing) {
      pr = existing;
      reused = true;
    } else {
      pr = (
        await octokit.rest.pulls.create({
          owner,
          repo,
          head: branch,
          base: checkout.base,
          title: oneLine(input.taskTitle, 120),
          body: prBody(deps, input),
          draft: options.github.draft,
        })
      ).data;
    }
  } catch (err) {
    const reason = describeGithubError(err);
    await auditGithubWrite(deps, ctx.actor.userId, 'github.pr.create', checkout.repo, 'FAILED', {
      branch,
      reason,
    });
    throw new DeliveryFailed(`pushed ${branch} but could not open the pull request: ${reason}`);
  }
  const task = await deps.prisma.task.findUniqueOrThrow({
    where: { id: execution.taskId },
    select: { projectId: true },
  });
  await deps.prisma.$transaction(async (tx) => {
    await tx.pullRequest.upsert({
      where: { executionId: execution.id },
      create: {
        projectId: task.projectId,
        taskId: execution.taskId,
        executionId: execution.id,
        repo: checkout.repo,
        number: pr.number,
        url: pr.html_url,
        branch,
        base: checkout.base,
        createdBy: execution.userId,
      },
      update: { number: pr.number, url: pr.html_url, branch },
    });
    await tx.task.update({ where: { id: execution.taskId }, data: { column: 'review' } });
    await writeAudit(deps, tx, ctx, {
      action: 'github.pr.create',
      resourceType: 'github_repo',
      resourceId: checkout.repo,
      outcome: 'ALLOWED',
      detail: {
        channel: 'github',
        repo: checkout.repo,
        number: pr.number,
        branch,
        execution: execution.id,
        ...(reused ? { reused: true } : {}),
      },
    });
  });
  return { url: pr.html_url, number: pr.number };
}
