import { randomBytes, randomUUID } from 'node:crypto';
import {
  type FakeGitHub,
  type GitHttpServer,
  makeAppKeyPair,
  startFakeGitHub,
  startGitHttpServer,
  webhookHeaders,
} from '@ccl/testing';
import { expect } from 'vitest';
import { type Json, readJson, startTestServer, type TestServer, waitFor } from './test-server.ts';

export interface GithubWorld {
  server: TestServer;
  git: GitHttpServer;
  github: FakeGitHub;
  /** The credential every loopback GitHub request and git request needs: the canary. */
  token: string;
  webhookSecret: string;
  /** The settings the server was started with: a worker of the same deployment needs them too. */
  env: Record<string, string>;
  /** Headers of an ADMIN's API key (the local user may not manage projects). */
  admin: Record<string, string>;
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  /** A card with an echo run that writes `files`; resolves with the task id and execution id. */
  submit(
    project: string,
    title: string,
    opts?: { files?: Record<string, string>; context?: Record<string, unknown>; delayMs?: number },
  ): Promise<{ taskId: string; executionId: string }>;
  waitForState(executionId: string, states: string[], timeoutMs?: number): Promise<Json>;
  /** Signs and sends a webhook delivery; resolves with the response. */
  deliver(event: string, payload: unknown, opts?: { delivery?: string; secret?: string }): Promise<Response>;
  /** Waits until the delivery was handled; resolves with its outcome. */
  handled(delivery: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * The whole loop on loopback: a git server speaking smart HTTP through `git http-backend`, a fake
 * GitHub REST API over it, and the portal configured with a server token for both.
 */
export async function startGithubWorld(
  env: Record<string, string> = {},
  opts: { app?: boolean; role?: 'api' } = {},
): Promise<GithubWorld> {
  const token = `ghp_${randomBytes(18).toString('hex')}`;
  const webhookSecret = `whsec-${randomBytes(12).toString('hex')}`;
  const git = await startGitHttpServer({ token });
  const keys = opts.app ? makeAppKeyPair() : null;
  const github = await startFakeGitHub({
    git,
    token,
    ...(keys ? { app: { id: 4242, publicKeyPem: keys.publicKeyPem, installationId: 77 } } : {}),
  });
  // A GitHub App instead of a token: the server holds only the App's key.
  const credential: Record<string, string> = keys
    ? { GITHUB_APP_ID: '4242', GITHUB_APP_PRIVATE_KEY: keys.privateKeyPem }
    : { GITHUB_TOKEN: token };
  const serverEnv = {
    ...credential,
    SECRETS_KEY: randomBytes(32).toString('base64'),
    GITHUB_API_URL: github.url,
    GITHUB_WEBHOOK_SECRET: webhookSecret,
    PUBLIC_URL: 'http://clawlink.test',
    // The fakes listen on loopback, which the repository guard refuses by default.
    ALLOWED_PRIVATE_HOSTS: '127.0.0.1',
    ...env,
  };
  const server = await startTestServer({
    backend: 'postgres',
    env: serverEnv,
    ...(opts.role ? { role: opts.role } : {}),
  });
  const api = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}${path}`, {
      method,
      headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  const { key } = await server.addUserWithKey('boss', 'ADMIN');
  const world: GithubWorld = {
    admin: { authorization: `Bearer ${key}` },
    server,
    git,
    github,
    token,
    webhookSecret,
    env: serverEnv,
    api,
    async submit(project, title, opts = {}) {
      const res = await api('POST', '/api/tasks', {
        project,
        title,
        prompt: `Do this: ${title}`,
        agent_type: 'echo',
        context: {
          echo: { steps: 1, delay_ms: opts.delayMs ?? 0, ...(opts.files ? { files: opts.files } : {}) },
          ...opts.context,
        },
      });
      const body = await readJson(res);
      expect(res.status, JSON.stringify(body)).toBe(201);
      return { taskId: body.id, executionId: body.latest_execution.id };
    },
    async waitForState(executionId, states, timeoutMs = 20_000) {
      return waitFor(async () => {
        const row = await server.prisma.execution.findUniqueOrThrow({ where: { id: executionId } });
        return states.includes(row.state) ? row : null;
      }, timeoutMs);
    },
    async deliver(event, payload, opts = {}) {
      const body = JSON.stringify(payload);
      const delivery = opts.delivery ?? randomUUID();
      return fetch(`${server.url}/api/github/webhook`, {
        method: 'POST',
        headers: webhookHeaders(event, delivery, opts.secret ?? webhookSecret, body),
        body,
      });
    },
    async handled(delivery) {
      const row = await waitFor(
        () => server.prisma.githubDelivery.findFirst({ where: { id: delivery, outcome: { not: null } } }),
        15_000,
      );
      return row.outcome as string;
    },
    async stop() {
      await server?.stop();
      await github?.close();
      await git?.close();
    },
  };
  return world;
}

/** A project linked to `repo` with the given GitHub settings. */
export async function linkProject(
  world: GithubWorld,
  slug: string,
  github: Record<string, unknown>,
): Promise<void> {
  const res = await world.api('POST', '/api/projects', { slug, settings: { github } }, world.admin);
  expect(res.status, await res.clone().text()).toBe(201);
}
