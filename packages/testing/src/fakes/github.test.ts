import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type GitHttpServer, startGitHttpServer } from './git-http.ts';
import {
  type FakeGitHub,
  makeAppKeyPair,
  signAppJwt,
  signWebhook,
  startFakeGitHub,
  webhookHeaders,
} from './github.ts';

const run = promisify(execFile);
const TOKEN = 'ghp_fake_personal_token';
const APP = { id: 4242, installationId: 777 };
const keys = makeAppKeyPair();

let work: string;
let git: GitHttpServer;
let gh: FakeGitHub;

/** The real git CLI, blind to this machine's config, authenticating as an agent's clone would. */
async function gitCli(args: string[], opts: { cwd?: string; token?: string } = {}) {
  const auth = opts.token
    ? [
        '-c',
        `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${opts.token}`).toString('base64')}`,
      ]
    : [];
  const env = {
    PATH: process.env.PATH,
    HOME: work,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Agent',
    GIT_AUTHOR_EMAIL: 'agent@example.test',
    GIT_COMMITTER_NAME: 'Agent',
    GIT_COMMITTER_EMAIL: 'agent@example.test',
  };
  const { stdout } = await run('git', [...auth, ...args], { cwd: opts.cwd ?? work, env });
  return stdout;
}

async function api(method: string, path: string, body?: unknown, token: string | null = TOKEN) {
  const res = await fetch(`${gh.url}${path}`, {
    method,
    headers: {
      accept: 'application/vnd.github+json',
      ...(token ? { authorization: `token ${token}` } : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? JSON.parse(text) : null };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'github-fake-test-'));
  git = await startGitHttpServer({ token: TOKEN });
  gh = await startFakeGitHub({ git, token: TOKEN, app: { ...APP, publicKeyPem: keys.publicKeyPem } });
  await gh.addRepo('acme/app', { files: { 'README.md': '# app\n', 'src/index.ts': 'export {};\n' } });
});

afterAll(async () => {
  await gh?.close();
  await git?.close();
  await rm(work, { recursive: true, force: true });
});

describe('fake git server', () => {
  it('refuses a clone without the credential and records it unauthorized', async () => {
    await expect(gitCli(['clone', `${git.url}/acme/app.git`, 'anon'])).rejects.toThrow(
      /could not read Username/,
    );
    const refused = git.requests.at(-1);
    expect(refused).toMatchObject({ authorized: false, hasAuthorization: false, status: 401 });
  });

  it('clones with the token, takes a pushed branch, and sees the base move', async () => {
    await gitCli(['clone', `${git.url}/acme/app.git`, 'clone'], { token: TOKEN });
    const clone = join(work, 'clone');
    expect(await readFile(join(clone, 'src/index.ts'), 'utf8')).toBe('export {};\n');

    await gitCli(['checkout', '-q', '-b', 'ccl/task-1'], { cwd: clone });
    await writeFile(join(clone, 'NOTES.md'), 'done\n');
    await gitCli(['add', '-A'], { cwd: clone });
    await gitCli(['commit', '-q', '-m', 'Add notes', '-m', 'Because the task said so.'], { cwd: clone });
    await gitCli(['push', '-q', 'origin', 'ccl/task-1'], { cwd: clone, token: TOKEN });

    const branches = await git.branches('acme/app');
    expect(Object.keys(branches).sort()).toEqual(['ccl/task-1', 'main']);
    const [top] = await git.log('acme/app', 'ccl/task-1');
    expect(top).toMatchObject({
      subject: 'Add notes',
      body: 'Because the task said so.',
      authorName: 'Agent',
    });
    expect(await git.readFile('acme/app', 'ccl/task-1', 'NOTES.md')).toBe('done\n');

    const moved = await git.commitTo(
      'acme/app',
      'main',
      { 'README.md': null, 'CHANGELOG.md': 'v2\n' },
      'Base moved',
    );
    expect((await git.branches('acme/app')).main).toBe(moved);
    expect(await git.readFile('acme/app', 'main', 'README.md')).toBeNull();
    expect(await git.readFile('acme/app', 'main', 'CHANGELOG.md')).toBe('v2\n');
    expect((await git.config('acme/app'))['http.receivepack']).toBe('true');
  });
});

describe('fake GitHub REST API', () => {
  it('answers like api.github.com: auth, rate-limit headers, 404s', async () => {
    const me = await api('GET', '/user');
    expect(me).toMatchObject({ status: 200, json: { login: 'fake-user', type: 'User' } });
    expect(me.headers.get('x-oauth-scopes')).toBe('repo');
    expect(me.headers.get('x-ratelimit-remaining')).toMatch(/^\d+$/);
    expect(me.headers.get('x-github-request-id')).toBeTruthy();

    expect(await api('GET', '/user', undefined, 'ghp_wrong')).toMatchObject({
      status: 401,
      json: { message: 'Bad credentials' },
    });
    const repo = await api('GET', '/repos/acme/app');
    expect(repo.json).toMatchObject({
      full_name: 'acme/app',
      default_branch: 'main',
      clone_url: `${git.url}/acme/app.git`,
      permissions: { push: true },
    });
    expect(await api('GET', '/repos/acme/nope')).toMatchObject({
      status: 404,
      json: { message: 'Not Found' },
    });
    await api('GET', '/repos/acme/app/tags');
    expect(gh.unhandled).toContainEqual({ method: 'GET', path: '/repos/acme/app/tags' });
  });

  it('opens a pull request for a pushed branch only, and only once', async () => {
    const created = await api('POST', '/repos/acme/app/pulls', {
      title: 'Add notes',
      head: 'ccl/task-1',
      base: 'main',
      body: 'From the portal',
      draft: true,
    });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      number: 1,
      state: 'open',
      draft: true,
      html_url: 'https://github.test/acme/app/pull/1',
      head: { ref: 'ccl/task-1', sha: (await git.branches('acme/app'))['ccl/task-1'] },
      base: { ref: 'main', repo: { full_name: 'acme/app' } },
      user: { login: 'fake-user' },
      merged: false,
    });

    const again = await api('POST', '/repos/acme/app/pulls', {
      title: 'x',
      head: 'acme:ccl/task-1',
      base: 'main',
    });
    expect(again.status).toBe(422);
    expect(again.json.errors[0].message).toBe('A pull request already exists for acme:ccl/task-1.');
    const ghost = await api('POST', '/repos/acme/app/pulls', {
      title: 'x',
      head: 'not-pushed',
      base: 'main',
    });
    expect(ghost).toMatchObject({
      status: 422,
      json: {
        message: 'Validation Failed',
        errors: [{ resource: 'PullRequest', field: 'head', code: 'invalid' }],
      },
    });

    const listed = await api('GET', '/repos/acme/app/pulls?state=open&head=acme:ccl/task-1');
    expect(listed.json.map((p: { number: number }) => p.number)).toEqual([1]);
  });

  it('keeps comment edits, review replies, reactions and check runs', async () => {
    const comment = await api('POST', '/repos/acme/app/issues/1/comments', { body: 'Working on it' });
    expect(comment.status).toBe(201);
    await api('PATCH', `/repos/acme/app/issues/comments/${comment.json.id}`, { body: 'Done' });
    expect(gh.comments.find((c) => c.id === comment.json.id)?.bodies).toEqual(['Working on it', 'Done']);
    const reaction = await api('POST', `/repos/acme/app/issues/comments/${comment.json.id}/reactions`, {
      content: 'eyes',
    });
    expect(reaction.status).toBe(201);
    expect(gh.reactions).toHaveLength(1);

    const review = await gh.addReview('acme/app', 1, {
      user: 'reviewer',
      state: 'CHANGES_REQUESTED',
      body: 'Please fix',
      comments: [{ path: 'NOTES.md', line: 1, body: 'Say more' }],
    });
    expect(review.state).toBe('changes_requested');
    const lines = await api('GET', `/repos/acme/app/pulls/1/reviews/${review.id}/comments`);
    expect(lines.json).toMatchObject([{ path: 'NOTES.md', line: 1, pull_request_review_id: review.id }]);
    const reply = await api('POST', `/repos/acme/app/pulls/1/comments/${lines.json[0].id}/replies`, {
      body: 'Fixed',
    });
    expect(reply).toMatchObject({
      status: 201,
      json: { in_reply_to_id: lines.json[0].id, path: 'NOTES.md' },
    });
    expect(gh.reviewReplies.map((r) => r.body)).toEqual(['Fixed']);

    const head = gh.pulls('acme/app')[0]?.head.sha as string;
    const suite = await gh.addCheckRun('acme/app', head, {
      name: 'ci/test',
      conclusion: 'failure',
      output: { title: '1 failed', summary: 'boom' },
    });
    expect(suite).toMatchObject({ conclusion: 'failure', head_branch: 'ccl/task-1' });
    const runs = await api('GET', '/repos/acme/app/commits/ccl%2Ftask-1/check-runs');
    expect(runs.json).toMatchObject({
      total_count: 1,
      check_runs: [{ name: 'ci/test', conclusion: 'failure' }],
    });
  });

  it('injects failures for the retry and throttle plugins to meet', async () => {
    gh.failNext('GET', /^\/repos\/acme\/app$/, 403, 1);
    const throttled = await api('GET', '/repos/acme/app');
    expect(throttled.status).toBe(403);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect(throttled.json.message).toMatch(/secondary rate limit/);
    expect((await api('GET', '/repos/acme/app')).status).toBe(200);
  });

  it('trades an app JWT for an installation token that git and the API accept until it expires', async () => {
    const forged = signAppJwt(APP.id, makeAppKeyPair().privateKeyPem);
    const refused = await api('POST', `/app/installations/${APP.installationId}/access_tokens`, {}, null);
    expect(refused.status).toBe(401);
    const res = await fetch(`${gh.url}/app/installations/${APP.installationId}/access_tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${forged}` },
    });
    expect(res.status).toBe(401);

    const jwt = signAppJwt(APP.id, keys.privateKeyPem);
    const installation = await fetch(`${gh.url}/repos/acme/app/installation`, {
      headers: { authorization: `Bearer ${jwt}` },
    });
    expect(await installation.json()).toMatchObject({ id: APP.installationId, account: { login: 'acme' } });

    gh.installationTokenTtlMs = 1500;
    const issued = await fetch(`${gh.url}/app/installations/${APP.installationId}/access_tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${jwt}` },
    });
    expect(issued.status).toBe(201);
    const { token } = (await issued.json()) as { token: string };
    expect(token).toMatch(/^ghs_/);
    expect(gh.issuedTokens).toHaveLength(1);

    expect((await api('GET', '/repos/acme/app', undefined, token)).status).toBe(200);
    expect(await gitCli(['ls-remote', `${git.url}/acme/app.git`], { token })).toMatch(/refs\/heads\/main/);

    await new Promise((resolve) => setTimeout(resolve, 1600));
    expect((await api('GET', '/repos/acme/app', undefined, token)).status).toBe(401);
    await expect(gitCli(['ls-remote', `${git.url}/acme/app.git`], { token })).rejects.toThrow();
    expect(gh.requests.some((r) => r.auth === 'jwt')).toBe(true);
  });

  it('signs webhooks as GitHub documents', () => {
    // The example from docs.github.com "Validating webhook deliveries".
    const signature = signWebhook("It's a Secret to Everybody", 'Hello, World!');
    expect(signature).toBe('sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17');
    const headers = webhookHeaders(
      'pull_request_review',
      'delivery-1',
      "It's a Secret to Everybody",
      'Hello, World!',
    );
    expect(headers).toMatchObject({
      'x-github-event': 'pull_request_review',
      'x-github-delivery': 'delivery-1',
      'x-hub-signature-256': signature,
      'content-type': 'application/json',
    });
    expect(headers['user-agent']).toMatch(/^GitHub-Hookshot\//);
  });
});
