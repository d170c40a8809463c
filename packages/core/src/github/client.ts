import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { STATUS_CODES } from 'node:http';
import type { Config } from '@ccl/config';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import type { Logger } from '../deps.ts';
import { Invalid } from '../errors.ts';

const ClawlinkOctokit = Octokit.plugin(throttling, retry);
export type GithubOctokit = InstanceType<typeof ClawlinkOctokit>;

export type GithubCredentialSource = 'project' | 'server' | 'app';

export interface GithubAccess {
  octokit: GithubOctokit;
  source: GithubCredentialSource;
  /** The current token, for git over HTTPS; for an App, the cached installation token. */
  token(): Promise<string>;
}

type WarnLog = Pick<Logger, 'warn'>;

/** A rate-limit wait longer than this fails the request instead of holding a worker. */
const MAX_RATE_LIMIT_WAIT_S = 60;
/** An installation token is replaced this long before GitHub says it expires. */
const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;
/** Requests made on behalf of several callers do not take any one caller's signal. */
const SHARED_REQUEST_TIMEOUT_MS = 30_000;
const REPO_RE = /^([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/;

const noop = () => {};

/**
 * An Octokit with throttling and retries. `auth` is a fixed token, or a function asked before every
 * request (an App's installation token changes hourly; the function returns the cached one).
 */
export function makeOctokit(opts: {
  baseUrl: string;
  auth: string | (() => Promise<string>);
  log?: WarnLog;
  /** Base of the retry plugin's back-off (it waits (n+1)² × this after the n-th failure). */
  retryBaseMs?: number;
}): GithubOctokit {
  const { auth } = opts;
  const octokit = buildOctokit(
    opts.baseUrl,
    opts.log,
    opts.retryBaseMs,
    typeof auth === 'string' ? auth : undefined,
  );
  if (typeof auth === 'function') {
    octokit.hook.before('request', async (options) => {
      options.headers.authorization = `token ${await auth()}`;
    });
  }
  return octokit;
}

function buildOctokit(baseUrl: string, log?: WarnLog, retryBaseMs = 1000, auth?: string): GithubOctokit {
  const onLimit =
    (what: string) =>
    (retryAfter: number, options: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      const willRetry = retryCount < 1 && retryAfter <= MAX_RATE_LIMIT_WAIT_S;
      log?.warn({ method: options.method, url: options.url, retryAfter, willRetry }, `GitHub ${what}`);
      return willRetry;
    };
  return new ClawlinkOctokit({
    baseUrl: baseUrl.replace(/\/+$/, ''),
    ...(auth === undefined ? {} : { auth }),
    userAgent: 'clawlink',
    // debug/info would print every request line; warn/error carry only Octokit's own text.
    log: {
      debug: noop,
      info: noop,
      warn: (message: string) => log?.warn({ source: 'octokit' }, String(message)),
      error: (message: string) => log?.warn({ source: 'octokit' }, String(message)),
    },
    // The retry plugin reads `request.retries` per request and computes its own back-off
    // ((n+1)² × retryAfterBaseValue), overwriting any `request.retryAfter` given here.
    request: { retries: 2 },
    // 429 is the throttling plugin's to decide (one retry, short waits); retrying it here too
    // would multiply the waits.
    retry: {
      retries: 2,
      retryAfterBaseValue: retryBaseMs,
      doNotRetry: [400, 401, 403, 404, 410, 422, 429, 451],
    },
    throttle: {
      onRateLimit: onLimit('rate limit reached'),
      onSecondaryRateLimit: onLimit('secondary rate limit reached'),
    },
  });
}

/** The process's GitHub App: signs JWTs and caches installation tokens. One per process. */
export class GithubApps {
  private readonly key: KeyObject;
  private readonly appId: string;
  private readonly octokit: GithubOctokit;
  private readonly installations = new Map<string, number>();
  private readonly tokens = new Map<number, { token: string; expiresAt: Date }>();
  private readonly lookups = new Map<string, Promise<number>>();
  private readonly mints = new Map<number, Promise<{ token: string; expiresAt: Date }>>();

  constructor(opts: {
    apiUrl: string;
    appId: string;
    privateKey: string;
    log?: WarnLog;
    retryBaseMs?: number;
  }) {
    this.appId = opts.appId;
    this.key = loadPrivateKey(opts.privateKey);
    this.octokit = buildOctokit(opts.apiUrl, opts.log, opts.retryBaseMs);
  }

  /** A token for `owner/name`, reused until five minutes before it expires. */
  async installationToken(repo: string, signal?: AbortSignal): Promise<{ token: string; expiresAt: Date }> {
    const [, owner, name] = REPO_RE.exec(repo) ?? [];
    if (!owner || !name) throw new Invalid(`not a GitHub repository (owner/name): ${repo}`);
    const repoKey = `${owner}/${name}`.toLowerCase();
    const id = await abortable(this.installationId(repoKey, owner, name), signal);
    const cached = this.tokens.get(id);
    if (cached && cached.expiresAt.getTime() - TOKEN_REFRESH_MARGIN_MS > Date.now()) return cached;
    let mint = this.mints.get(id);
    if (!mint) {
      mint = this.mint(id).finally(() => this.mints.delete(id));
      this.mints.set(id, mint);
    }
    try {
      return await abortable(mint, signal);
    } catch (err) {
      // The App may have been reinstalled under a new id: look it up again next time.
      if (this.installations.get(repoKey) === id) this.installations.delete(repoKey);
      throw err;
    }
  }

  private installationId(repoKey: string, owner: string, repo: string): Promise<number> {
    const known = this.installations.get(repoKey);
    if (known !== undefined) return Promise.resolve(known);
    let lookup = this.lookups.get(repoKey);
    if (!lookup) {
      lookup = this.octokit.rest.apps
        .getRepoInstallation({ owner, repo, ...this.asApp() })
        .then(({ data }) => {
          this.installations.set(repoKey, data.id);
          return data.id;
        })
        .finally(() => this.lookups.delete(repoKey));
      this.lookups.set(repoKey, lookup);
    }
    return lookup;
  }

  private async mint(installationId: number): Promise<{ token: string; expiresAt: Date }> {
    const { data } = await this.octokit.rest.apps.createInstallationAccessToken({
      installation_id: installationId,
      ...this.asApp(),
    });
    const issued = { token: data.token, expiresAt: new Date(data.expires_at) };
    this.tokens.set(installationId, issued);
    return issued;
  }

  private asApp() {
    return {
      headers: { authorization: `Bearer ${this.jwt()}` },
      request: { signal: AbortSignal.timeout(SHARED_REQUEST_TIMEOUT_MS) },
    };
  }

  /** RS256 JWT; iat is back-dated a minute for clock drift, and GitHub allows at most ten minutes. */
  private jwt(): string {
    const now = Math.floor(Date.now() / 1000);
    const header = base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT' }));
    const payload = base64url(JSON.stringify({ iat: now - 60, exp: now + 9 * 60, iss: this.appId }));
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), this.key);
    return `${header}.${payload}.${signature.toString('base64url')}`;
  }
}

function base64url(text: string): string {
  return Buffer.from(text).toString('base64url');
}

function loadPrivateKey(value: string): KeyObject {
  let pem = value.trim();
  if (!pem.startsWith('-----BEGIN')) {
    try {
      pem = readFileSync(pem, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new Error(`GITHUB_APP_PRIVATE_KEY: neither PEM text nor a readable file (${code}): ${value}`);
    }
  } else if (!pem.includes('\n')) {
    // A one-line env value often carries the PEM's newlines as literal \n.
    pem = pem.replace(/\\n/g, '\n');
  }
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'rsa') throw new Error('not RSA');
    return key;
  } catch {
    throw new Error(
      'GITHUB_APP_PRIVATE_KEY: not an RSA private key in PEM form (the .pem file GitHub gives the App)',
    );
  }
}

function abortable<T>(promise: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * The credential for `repo`, in order of precedence: the project's GITHUB_TOKEN secret, the
 * server's GITHUB_TOKEN, then the GitHub App. Null when none is configured.
 */
export function githubAccess(input: {
  config: Pick<Config, 'GITHUB_TOKEN' | 'GITHUB_APP_ID' | 'GITHUB_API_URL'>;
  projectToken?: string;
  apps?: GithubApps;
  repo: string;
  log?: WarnLog;
}): GithubAccess | null {
  const { config, apps, repo, log } = input;
  const baseUrl = config.GITHUB_API_URL;
  const fixed = (token: string, source: GithubCredentialSource): GithubAccess => ({
    octokit: makeOctokit({ baseUrl, auth: token, log }),
    source,
    token: async () => token,
  });
  if (input.projectToken) return fixed(input.projectToken, 'project');
  if (config.GITHUB_TOKEN) return fixed(config.GITHUB_TOKEN, 'server');
  if (config.GITHUB_APP_ID && !apps) {
    throw new Error('GITHUB_APP_ID is set but no GithubApps was handed down from the composition root');
  }
  if (!apps) return null;
  const token = async () => (await apps.installationToken(repo)).token;
  return { octokit: makeOctokit({ baseUrl, auth: token, log }), source: 'app', token };
}

/**
 * Environment for one git child process that authenticates to GitHub over HTTPS without writing
 * the credential to a config file, the remote URL or argv.
 */
export function gitAuthEnv(token: string): Record<string, string> {
  const basic = Buffer.from(`x-access-token:${token}`).toString('base64');
  return {
    GIT_CONFIG_COUNT: '1',
    GIT_CONFIG_KEY_0: 'http.extraHeader',
    GIT_CONFIG_VALUE_0: `Authorization: Basic ${basic}`,
    GIT_TERMINAL_PROMPT: '0',
  };
}

interface RequestErrorLike {
  status: number;
  message: string;
  request: { method?: string; url?: string };
  response?: { headers?: Record<string, string | undefined>; data?: unknown };
}

function isRequestError(err: unknown): err is RequestErrorLike {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as Partial<RequestErrorLike>;
  return typeof e.status === 'number' && typeof e.request === 'object' && e.request !== null;
}

/** A short message for people; never carries headers or tokens. */
export function describeGithubError(err: unknown): string {
  if (!isRequestError(err)) {
    const message = err instanceof Error ? err.message : String(err);
    return redactTokens(`GitHub request failed: ${message}`);
  }
  const method = err.request.method ?? 'GET';
  const path = pathOf(err.request.url);
  if (!err.response) return redactTokens(`GitHub could not be reached for ${method} ${path}: ${err.message}`);
  const { status } = err;
  const ghMessage = githubMessage(err.response.data);
  const statusText = STATUS_CODES[status] ?? 'error';
  let text = `GitHub answered ${status} ${statusText} for ${method} ${path}`;
  if (ghMessage && ghMessage.toLowerCase() !== statusText.toLowerCase()) text += ` (${ghMessage})`;
  const hint = hintFor(status, ghMessage, err.response.headers);
  if (hint) text += `: ${hint}`;
  return redactTokens(text);
}

function hintFor(status: number, message: string, headers: Record<string, string | undefined> = {}): string {
  if (status === 401) return 'the credential is invalid, expired or revoked';
  if (status === 403 || status === 429) {
    if (headers['x-ratelimit-remaining'] === '0' || /rate limit/i.test(message)) {
      return 'the rate limit is reached; try again later';
    }
    return 'the credential lacks the permission this needs';
  }
  if (status === 404) return 'check that the credential can read the repository';
  if (status >= 500) return 'GitHub is having trouble; try again later';
  return '';
}

function githubMessage(data: unknown): string {
  const message = typeof data === 'object' && data !== null && 'message' in data ? data.message : undefined;
  return typeof message === 'string' ? message.slice(0, 200) : '';
}

function pathOf(url: string | undefined): string {
  if (!url) return '(unknown)';
  try {
    return new URL(url).pathname;
  } catch {
    return url.split('?')[0] ?? url;
  }
}

const TOKEN_SHAPES =
  /\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b|\b(?:token|bearer|basic)\s+[A-Za-z0-9._~+/=-]{16,}/gi;

function redactTokens(text: string): string {
  return text.replace(TOKEN_SHAPES, '[REDACTED]');
}
