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
import { pullOf } from './github-routes-pulls.ts';
import { issueCommentJson, nowIso, reactionJson, reviewCommentJson, reviewJson } from './github-state.ts';

function addIssueComment(ctx: RouteContext): Reply {
  const number = Number(ctx.params[0]);
  const pull =
    pullOf(ctx) ?? ctx.store.issues.find((i) => i.fullName === ctx.repo.fullName && i.number === number);
  const body = text(ctx.body.body);
  if (!pull) return notFound();
  if (!body) return invalid([{ resource: 'IssueComment', field: 'body', code: 'missing_field' }]);
  const at = nowIso();
  const comment = {
    id: ctx.store.nextId(),
    fullName: ctx.repo.fullName,
    issueNumber: pull.number,
    body,
    bodies: [body],
    user: ctx.actor,
    createdAt: at,
    updatedAt: at,
  };
  ctx.store.comments.push(comment);
  return ok(issueCommentJson(comment, ctx.store.api), 201);
}

function editIssueComment(ctx: RouteContext): Reply {
  const comment = issueCommentOf(ctx);
  const body = text(ctx.body.body);
  if (!comment) return notFound();
  if (!body) return invalid([{ resource: 'IssueComment', field: 'body', code: 'missing_field' }]);
  comment.body = body;
  comment.bodies.push(body);
  comment.updatedAt = nowIso();
  return ok(issueCommentJson(comment, ctx.store.api));
}

function issueCommentOf(ctx: RouteContext) {
  const id = Number(ctx.params[0]);
  return ctx.store.comments.find((c) => c.fullName === ctx.repo.fullName && c.id === id);
}

const REACTIONS = new Set(['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes']);

function react(subject: 'issue_comment' | 'pull_request_review_comment') {
  return (ctx: RouteContext): Reply => {
    const id = Number(ctx.params[0]);
    const comments = subject === 'issue_comment' ? ctx.store.comments : ctx.store.reviewComments;
    if (!comments.some((c) => c.fullName === ctx.repo.fullName && c.id === id)) return notFound();
    const content = text(ctx.body.content) ?? '';
    if (!REACTIONS.has(content))
      return invalid([{ resource: 'Reaction', field: 'content', code: 'invalid' }]);
    // Reacting twice with the same emoji returns the first reaction with 200, as GitHub does.
    const same = ctx.store.reactions.find(
      (r) =>
        r.subject === subject &&
        r.commentId === id &&
        r.content === content &&
        r.user.login === ctx.actor.login,
    );
    if (same) return ok(reactionJson(same));
    const reaction = {
      id: ctx.store.nextId(),
      fullName: ctx.repo.fullName,
      subject,
      commentId: id,
      content,
      user: ctx.actor,
      createdAt: nowIso(),
    };
    ctx.store.reactions.push(reaction);
    return ok(reactionJson(reaction), 201);
  };
}

function replyToReviewComment(ctx: RouteContext): Reply {
  const { store, repo } = ctx;
  const pull = pullOf(ctx);
  const parentId = Number(ctx.params[1]);
  const parent = store.reviewComments.find(
    (c) => c.fullName === repo.fullName && c.pullNumber === pull?.number && c.id === parentId,
  );
  const body = text(ctx.body.body);
  if (!pull || !parent) return notFound();
  if (!body) return invalid([{ resource: 'PullRequestReviewComment', field: 'body', code: 'missing_field' }]);
  // GitHub files each reply under a fresh one-comment review of its own.
  const at = nowIso();
  const review = {
    id: store.nextId(),
    fullName: repo.fullName,
    pullNumber: pull.number,
    user: ctx.actor,
    state: 'COMMENTED' as const,
    body: '',
    commitId: pull.head.sha,
    submittedAt: at,
  };
  store.reviews.push(review);
  const reply = {
    id: store.nextId(),
    fullName: repo.fullName,
    pullNumber: pull.number,
    reviewId: review.id,
    path: parent.path,
    line: parent.line,
    body,
    user: ctx.actor,
    commitId: pull.head.sha,
    inReplyToId: parent.inReplyToId ?? parent.id,
    createdAt: at,
  };
  store.reviewComments.push(reply);
  return ok(reviewCommentJson(reply, store.api), 201);
}

/** Conversation comments, review comments, replies and reactions. */
export const discussionRoutes: Route[] = [
  route('GET', '/repos/issues/(\\d+)/comments', 'user', (ctx) => {
    const number = Number(ctx.params[0]);
    const comments = ctx.store.comments.filter(
      (c) => c.fullName === ctx.repo.fullName && c.issueNumber === number,
    );
    return paged(
      ctx,
      comments.map((c) => issueCommentJson(c, ctx.store.api)),
    );
  }),
  route('POST', '/repos/issues/(\\d+)/comments', 'user', addIssueComment),
  route('GET', '/repos/issues/comments/(\\d+)', 'user', (ctx) => {
    const comment = issueCommentOf(ctx);
    return comment ? ok(issueCommentJson(comment, ctx.store.api)) : notFound();
  }),
  route('PATCH', '/repos/issues/comments/(\\d+)', 'user', editIssueComment),
  route('POST', '/repos/issues/comments/(\\d+)/reactions', 'user', react('issue_comment')),
  route('POST', '/repos/pulls/comments/(\\d+)/reactions', 'user', react('pull_request_review_comment')),
  route('GET', '/repos/pulls/(\\d+)/reviews', 'user', (ctx) => {
    const reviews = ctx.store.reviews.filter(
      (r) => r.fullName === ctx.repo.fullName && r.pullNumber === Number(ctx.params[0]),
    );
    return paged(
      ctx,
      reviews.map((r) => reviewJson(r, ctx.store.api)),
    );
  }),
  route('GET', '/repos/pulls/(\\d+)/reviews/(\\d+)', 'user', (ctx) => {
    const review = ctx.store.reviews.find(
      (r) =>
        r.fullName === ctx.repo.fullName &&
        r.pullNumber === Number(ctx.params[0]) &&
        r.id === Number(ctx.params[1]),
    );
    return review ? ok(reviewJson(review, ctx.store.api)) : notFound();
  }),
  route('GET', '/repos/pulls/(\\d+)/reviews/(\\d+)/comments', 'user', (ctx) => {
    const reviewId = Number(ctx.params[1]);
    const comments = ctx.store.reviewComments.filter(
      (c) =>
        c.fullName === ctx.repo.fullName && c.pullNumber === Number(ctx.params[0]) && c.reviewId === reviewId,
    );
    if (!ctx.store.reviews.some((r) => r.id === reviewId && r.fullName === ctx.repo.fullName))
      return notFound();
    return paged(
      ctx,
      comments.map((c) => reviewCommentJson(c, ctx.store.api)),
    );
  }),
  route('GET', '/repos/pulls/(\\d+)/comments', 'user', (ctx) => {
    const comments = ctx.store.reviewComments.filter(
      (c) => c.fullName === ctx.repo.fullName && c.pullNumber === Number(ctx.params[0]),
    );
    return paged(
      ctx,
      comments.map((c) => reviewCommentJson(c, ctx.store.api)),
    );
  }),
  route('POST', '/repos/pulls/(\\d+)/comments/(\\d+)/replies', 'user', replyToReviewComment),
];
