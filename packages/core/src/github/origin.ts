import { z } from 'zod';

/**
 * `executions.github`: where a run that GitHub started (or that follows up a portal PR) came from
 * and answers to. Written by the webhook handler, read by the worker.
 */
export const githubOriginSchema = z.object({
  /** command: a `/clawlink` comment; review: a review's comments; ci: a failed check suite. */
  kind: z.enum(['command', 'review', 'ci']),
  repo: z.string(),
  /** A follow-up works on this PR: it checks out its branch and pushes there, opening no new PR. */
  pull_request: z.object({ number: z.number().int(), branch: z.string() }).optional(),
  /** The one comment the bot keeps up to date on the thread (issue or PR number). */
  comment: z.object({ issue_number: z.number().int(), comment_id: z.number().int() }).optional(),
  /** Review comments this run addresses; each gets a reply once the fix is pushed. */
  review_comments: z.array(z.number().int()).optional(),
});
export type GithubOrigin = z.infer<typeof githubOriginSchema>;

/** The stored origin, or null when the run did not come from GitHub (or the row is unreadable). */
export function readOrigin(stored: unknown): GithubOrigin | null {
  if (stored === null || stored === undefined) return null;
  const parsed = githubOriginSchema.safeParse(stored);
  return parsed.success ? parsed.data : null;
}
