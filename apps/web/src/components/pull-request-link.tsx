import type { TaskPullRequestDto } from '@ccl/contracts';

/** "PR #12 (merged)", opening the pull request on GitHub in a new tab. */
export function PullRequestLink({ pr }: { pr: TaskPullRequestDto }) {
  return (
    <a
      href={pr.url}
      target="_blank"
      rel="noopener noreferrer"
      className={`pr-link pr-${pr.state}`}
      data-testid="pull-request"
      data-state={pr.state}
      title={`branch ${pr.branch}`}
    >
      PR #{pr.number} ({pr.state})<span className="visually-hidden"> opens in a new tab</span>
    </a>
  );
}
