import { generateKeyPairSync, type KeyObject, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { describeGithubError, GithubApps, gitAuthEnv, githubAccess, makeOctokit } from './client.ts';

const APP_ID = '123456';
const INSTALLATION_ID = 42;

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
}

/** Speaks the slice of GitHub's REST API the client uses; checks the App's JWT like GitHub does. */
class FakeGithub {
  readonly seen: Seen[] = [];
  tokenTtlMs = 60 * 60_000;
  issued = 0;
  flaky = 0;
  private server: Server;
  url = '';

  constructor(private readonly publicKey: KeyObject) {
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  count(method: string, path: string): number {
    return this.seen.filter((s) => s.method === method && s.path === path).length;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const method = req.method ?? 'GET';
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const authorization = req.headers.authorization;
    this.seen.push({ method, path, authorization });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    req.resume();
    req.on('end', () => {
      if (path.startsWith('/app/') || path.endsWith('/installation')) {
        const problem = this.jwtProblem(authorization);
        if (problem) return send(401, { message: problem });
      }
      if (method === 'GET' && path === '/repos/acme/widget/installation')
        return send(200, { id: INSTALLATION_ID });
      if (method === 'GET' && path === '/repos/acme/missing/installation')
        return send(404, { message: 'Not Found' });
      if (method === 'POST' && path === `/app/installations/${INSTALLATION_ID}/access_tokens`) {
        this.issued++;
        return send(201, {
          token: `ghs_installation${this.issued}token${'0'.repeat(20)}`,
          expires_at: new Date(Date.now() + this.tokenTtlMs).toISOString(),
        });
      }
      if (method === 'GET' && path === '/repos/acme/widget') return send(200, { full_name: 'acme/widget' });
      if (path === '/repos/acme/flaky') {
        this.flaky++;
        return this.flaky === 1
          ? send(502, { message: 'Server Error' })
          : send(200, { full_name: 'acme/flaky' });
      }
      if (path === '/repos/acme/down') return send(502, { message: 'Server Error' });
      // A careless server that echoes the credential in its error message.
      if (path === '/repos/acme/echo') return send(401, { message: `Bad credentials: ${authorization}` });
      return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
    });
  }

  private jwtProblem(authorization: string | undefined): string | undefined {
    const jwt = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const [header, payload, signature] = jwt?.split('.') ?? [];
    if (!header || !payload || !signature) return 'A JSON web token could not be decoded';
    const signed = verify(
      'sha256',
      Buffer.from(`${header}.${payload}`),
      this.publicKey,
      Buffer.from(signature, 'base64url'),
    );
    if (!signed) return 'signature does not verify';
    const h = JSON.parse(Buffer.from(header, 'base64url').toString());
    const p = JSON.parse(Buffer.from(payload, 'base64url').toString());
    const now = Date.now() / 1000;
    if (h.alg !== 'RS256') return 'alg must be RS256';
    if (String(p.iss) !== APP_ID) return 'wrong issuer';
    if (!(p.iat <= now - 30 && p.exp > now && p.exp - p.iat <= 600))
      return "'Expiration time' claim ('exp') is too far in the future";
    return undefined;
  }
}

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PEM = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
const PROJECT_TOKEN = `ghp_project${'1'.repeat(29)}`;
const SERVER_TOKEN = `ghp_server${'2'.repeat(30)}`;

let github: FakeGithub;
beforeAll(async () => {
  github = new FakeGithub(publicKey);
  await github.start();
});
afterAll(() => github.close());
beforeEach(() => {
  github.seen.length = 0;
  github.tokenTtlMs = 60 * 60_000;
});

const config = (over: { GITHUB_TOKEN?: string; GITHUB_APP_ID?: string } = {}) => ({
  GITHUB_API_URL: github.url,
  GITHUB_TOKEN: undefined,
  GITHUB_APP_ID: undefined,
  ...over,
});
const newApps = (privateKey = PEM) =>
  new GithubApps({ apiUrl: github.url, appId: APP_ID, privateKey, retryBaseMs: 10 });

describe('GithubApps', () => {
  it('signs a JWT, finds the installation, and caches the installation token', async () => {
    const apps = newApps();
    const first = await apps.installationToken('acme/widget');
    expect(first.token).toMatch(/^ghs_installation\d+token/);
    expect(first.expiresAt.getTime()).toBeGreaterThan(Date.now() + 50 * 60_000);
    expect(github.count('GET', '/repos/acme/widget/installation')).toBe(1);
    expect(github.count('POST', `/app/installations/${INSTALLATION_ID}/access_tokens`)).toBe(1);

    const requestsBefore = github.seen.length;
    expect(await apps.installationToken('Acme/Widget')).toEqual(first);
    expect(github.seen.length).toBe(requestsBefore);
  });

  it('shares one request among concurrent callers', async () => {
    const apps = newApps();
    const tokens = await Promise.all([1, 2, 3].map(() => apps.installationToken('acme/widget')));
    expect(new Set(tokens.map((t) => t.token)).size).toBe(1);
    expect(github.count('GET', '/repos/acme/widget/installation')).toBe(1);
    expect(github.count('POST', `/app/installations/${INSTALLATION_ID}/access_tokens`)).toBe(1);
  });

  it('fetches a new token when the cached one expires within five minutes', async () => {
    github.tokenTtlMs = 4 * 60_000;
    const apps = newApps();
    const first = await apps.installationToken('acme/widget');
    const second = await apps.installationToken('acme/widget');
    expect(second.token).not.toBe(first.token);
    expect(github.count('GET', '/repos/acme/widget/installation')).toBe(1);
    expect(github.count('POST', `/app/installations/${INSTALLATION_ID}/access_tokens`)).toBe(2);
  });

  it('says plainly when the App is not installed on the repository', async () => {
    const err = await newApps()
      .installationToken('acme/missing')
      .catch((e: unknown) => e);
    expect(describeGithubError(err)).toBe(
      'GitHub answered 404 Not Found for GET /repos/acme/missing/installation: check that the credential can read the repository',
    );
  });

  it('reads the private key from a file path, and names the variable when it cannot', () => {
    const dir = mkdtempSync(join(tmpdir(), 'clawlink-gh-'));
    try {
      writeFileSync(join(dir, 'app.pem'), PEM);
      writeFileSync(join(dir, 'not-a-key.pem'), 'hello');
      expect(() => newApps(join(dir, 'app.pem'))).not.toThrow();
      expect(() => newApps(join(dir, 'absent.pem'))).toThrow(/GITHUB_APP_PRIVATE_KEY.*ENOENT/);
      expect(() => newApps(join(dir, 'not-a-key.pem'))).toThrow(
        /GITHUB_APP_PRIVATE_KEY: not an RSA private key/,
      );
      expect(() => newApps(PEM.replace(/\n/g, '\\n'))).not.toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('githubAccess', () => {
  const authOfLastRepoRead = () =>
    github.seen.filter((s) => s.path === '/repos/acme/widget').at(-1)?.authorization;

  it('prefers the project token, then the server token, then the App', async () => {
    const apps = newApps();
    const all = {
      config: config({ GITHUB_TOKEN: SERVER_TOKEN, GITHUB_APP_ID: APP_ID }),
      apps,
      repo: 'acme/widget',
    };

    const project = githubAccess({ ...all, projectToken: PROJECT_TOKEN });
    expect(project?.source).toBe('project');
    await project?.octokit.rest.repos.get({ owner: 'acme', repo: 'widget' });
    expect(authOfLastRepoRead()).toBe(`token ${PROJECT_TOKEN}`);
    expect(await project?.token()).toBe(PROJECT_TOKEN);

    const server = githubAccess(all);
    expect(server?.source).toBe('server');
    await server?.octokit.rest.repos.get({ owner: 'acme', repo: 'widget' });
    expect(authOfLastRepoRead()).toBe(`token ${SERVER_TOKEN}`);

    const app = githubAccess({ ...all, config: config({ GITHUB_APP_ID: APP_ID }) });
    expect(app?.source).toBe('app');
    await app?.octokit.rest.repos.get({ owner: 'acme', repo: 'widget' });
    const installationToken = await app?.token();
    expect(installationToken).toMatch(/^ghs_/);
    expect(authOfLastRepoRead()).toBe(`token ${installationToken}`);
  });

  it('sends the App installation token current at each request', async () => {
    github.tokenTtlMs = 4 * 60_000;
    const app = githubAccess({
      config: config({ GITHUB_APP_ID: APP_ID }),
      apps: newApps(),
      repo: 'acme/widget',
    });
    await app?.octokit.rest.repos.get({ owner: 'acme', repo: 'widget' });
    const first = authOfLastRepoRead();
    await app?.octokit.rest.repos.get({ owner: 'acme', repo: 'widget' });
    expect(authOfLastRepoRead()).not.toBe(first);
  });

  it('is null when no credential is configured', () => {
    expect(githubAccess({ config: config(), repo: 'acme/widget' })).toBeNull();
  });
});

describe('makeOctokit', () => {
  it('retries a 502 once and succeeds', async () => {
    github.flaky = 0;
    const octokit = makeOctokit({ baseUrl: github.url, auth: SERVER_TOKEN, retryBaseMs: 10 });
    const { data } = await octokit.rest.repos.get({ owner: 'acme', repo: 'flaky' });
    expect(data.full_name).toBe('acme/flaky');
    expect(github.count('GET', '/repos/acme/flaky')).toBe(2);
  });

  it('gives up after two retries', async () => {
    const octokit = makeOctokit({ baseUrl: github.url, auth: SERVER_TOKEN, retryBaseMs: 10 });
    const err = await octokit.rest.repos.get({ owner: 'acme', repo: 'down' }).catch((e: unknown) => e);
    expect(github.count('GET', '/repos/acme/down')).toBe(3);
    expect(describeGithubError(err)).toBe(
      'GitHub answered 502 Bad Gateway for GET /repos/acme/down (Server Error): GitHub is having trouble; try again later',
    );
  });
});

describe('describeGithubError', () => {
  it('never carries the token, even when GitHub echoes it', async () => {
    const octokit = makeOctokit({ baseUrl: github.url, auth: PROJECT_TOKEN });
    const err = await octokit.rest.repos.get({ owner: 'acme', repo: 'echo' }).catch((e: unknown) => e);
    expect(String((err as Error).message)).toContain(PROJECT_TOKEN);
    const text = describeGithubError(err);
    expect(text).toMatch(/^GitHub answered 401 Unauthorized for GET \/repos\/acme\/echo/);
    expect(text).toContain('the credential is invalid');
    expect(text).not.toContain(PROJECT_TOKEN);
    expect(text).not.toContain(PROJECT_TOKEN.slice(4));
  });

  it('describes an unreachable GitHub without the credential', async () => {
    const octokit = makeOctokit({ baseUrl: 'http://127.0.0.1:1', auth: PROJECT_TOKEN, retryBaseMs: 10 });
    const err = await octokit.rest.repos.get({ owner: 'acme', repo: 'widget' }).catch((e: unknown) => e);
    const text = describeGithubError(err);
    expect(text).toMatch(/^GitHub could not be reached for GET \/repos\/acme\/widget/);
    expect(text).not.toContain(PROJECT_TOKEN);
  });
});

describe('gitAuthEnv', () => {
  it('carries the token as a Basic extra header for one git process', () => {
    const env = gitAuthEnv('abc123');
    expect(env).toMatchObject({
      GIT_CONFIG_COUNT: '1',
      GIT_CONFIG_KEY_0: 'http.extraHeader',
      GIT_TERMINAL_PROMPT: '0',
    });
    const basic = /^Authorization: Basic (.+)$/.exec(env.GIT_CONFIG_VALUE_0 ?? '')?.[1] ?? '';
    expect(Buffer.from(basic, 'base64').toString()).toBe('x-access-token:abc123');
  });
});
