import type { Execution, ExecutionState } from '@ccl/db';
import type { CoreDeps } from '../deps.ts';
import type { TransitionPatch } from '../execution-store.ts';
import { auditGithubWrite } from './audit-github.ts';
import { describeGithubError, type GithubAccess } from './client.ts';
import { cardLink, taskNumberOf } from './deliver.ts';
import type { GithubOrigin } from './origin.ts';

/** The bot's one comment on a thread, in the words of the run's state. */
export function threadText(
  deps: CoreDeps,
  taskNumber: number,
  state: ExecutionState | 'QUEUED',
  extra: {
    error?: string | null;
    approval?: string;
    pullRequest?: { url: string; number: number };
    note?: string;
  },
): string {
  const card = cardLink(deps, taskNumber);
  switch (state) {
    case 'QUEUED':
    case 'PENDING':
      return `:hourglass: Queued as a ClawLink task (${card}).`;
    case 'PLANNING':
    case 'RUNNING':
      return `:gear: Working on it (${card}).`;
    case 'WAITING':
      return `:raised_hand: Waiting for approval: ${extra.approval ?? 'a step needs a decision'} (${card}).`;
    case 'COMPLETED':
      if (extra.pullRequest) {
        return `:white_check_mark: Done: ${extra.pullRequest.url} (#${extra.pullRequest.number}, ${card}).`;
      }
      return `:white_check_mark: Done${extra.note ? `, ${extra.note}` : ''} (${card}).`;
    case 'FAILED':
      return `:x: Failed: ${(extra.error ?? 'unknown error').slice(0, 500)} (${card}).`;
    case 'CANCELLED':
      return `:no_entry_sign: Cancelled (${card}).`;
  }
}

/** Edits the run's comment on its thread to say where it is; never fails the run. */
export async function answerOnGithub(
  deps: CoreDeps,
  accessOf: () => GithubAccess,
  execution: Execution,
  origin: GithubOrigin,
  state: ExecutionState,
  patch: TransitionPatch | undefined,
  delivered: { pullRequest?: { url: string; number: number }; note?: string },
): Promise<void> {
  if (!origin.comment) return;
  const [owner, repo] = origin.repo.split('/') as [string, string];
  const approval = (patch?.pendingApproval as { description?: string } | undefined)?.description;
  const body = threadText(deps, await taskNumberOf(deps, execution.taskId), state, {
    ...delivered,
    ...(patch?.error !== undefined ? { error: patch.error } : {}),
    ...(approval ? { approval: approval.slice(0, 300) } : {}),
  });
  try {
    await accessOf().octokit.rest.issues.updateComment({
      owner,
      repo,
      comment_id: origin.comment.comment_id,
      body,
    });
    await auditGithubWrite(deps, execution.userId, 'github.comment.update', origin.repo, 'ALLOWED', {
      comment_id: origin.comment.comment_id,
      number: origin.comment.issue_number,
      state,
    });
  } catch (err) {
    deps.log.warn(
      { executionId: execution.id, err: describeGithubError(err) },
      'could not update the GitHub comment',
    );
  }
}

/** After a follow-up's push: a reply in each review thread it addressed. */
export async function replyToReview(
  deps: CoreDeps,
  access: GithubAccess,
  execution: Execution,
  origin: GithubOrigin,
  commit: string,
): Promise<void> {
  const number = origin.pull_request?.number;
  if (!number || !origin.review_comments?.length) return;
  const [owner, repo] = origin.repo.split('/') as [string, string];
  for (const commentId of origin.review_comments) {
    try {
      await access.octokit.rest.pulls.createReplyForReviewComment({
        owner,
        repo,
        pull_number: number,
        comment_id: commentId,
        body: `Addressed in ${commit.slice(0, 12)} by ClawLink (${cardLink(deps, await taskNumberOf(deps, execution.taskId))}).`,
      });
      await auditGithubWrite(deps, execution.userId, 'github.comment', origin.repo, 'ALLOWED', {
        number,
        in_reply_to: commentId,
      });
    } catch (err) {
      deps.log.warn(
        { executionId: execution.id, err: describeGithubError(err) },
        'could not reply on the review',
      );
    }
  }
}
