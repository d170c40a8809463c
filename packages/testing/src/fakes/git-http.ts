import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  cleanGitEnv,
  type GitLogEntry,
  gitBranches,
  gitConfig,
  gitLog,
  readGitFile,
  repoDir,
  runGit,
  writeCommit,
} from './git-http-repos.ts';

export type { GitLogEntry } from './git-http-repos.ts';

export interface GitHttpRequest {
  method: string;
  /** URL path without the query, e.g. `/acme/app.git/info/refs`. */
  path: string;
  /** Raw query string without `?`, e.g. `service=git-upload-pack`. */
  query: string;
  /** The credential matched an accepted token. */
  authorized: boolean;
  /** An `Authorization` header was sent at all (git sends one only after a 401). */
  hasAuthorization: boolean;
  /** The status answered; 0 until the answer's head is written. */
  status: number;
}

export interface GitHttpServer {
  /** e.g. `http://127.0.0.1:40123`; repositories live at `${url}/<owner>/<name>.git`. */
  readonly url: string;
  readonly root: string;
  /**
   * The main token. Setting it replaces every accepted token (installation tokens
   * included) with this one, as rotating a credential would.
   */
  token: string;
  /** Every accepted password / bearer; tests and the GitHub fake may add to it. */
  readonly tokens: Set<string>;
  /** Accepts `token` until `expiresAt` (the GitHub fake's installation tokens). */
  addToken(token: string, expiresAt?: Date): void;
  /** `owner/name`s whose pushes are refused with 403, as for a read-only collaborator. */
  readonly readOnly: Set<string>;
  readonly requests: GitHttpRequest[];
  /** Creates a bare repository holding one commit of `files` on `branch` (default `main`); returns the clone URL. */
  createRepo(fullName: string, files: Record<string, string>, opts?: { branch?: string }): Promise<string>;
  /** Adds a commit to `branch` inside the bare repository (`null` deletes a file); returns its sha. */
  commitTo(
    fullName: string,
    branch: string,
    files: Record<string, string | null>,
    message: string,
  ): Promise<string>;
  /** A file's content at `ref`, or null when the ref or the path does not exist. */
  readFile(fullName: string, ref: string, path: string): Promise<string | null>;
  /** Commits reachable from `ref`, newest first. */
  log(fullName: string, ref: string): Promise<GitLogEntry[]>;
  /** Branch name → sha. */
  branches(fullName: string): Promise<Record<string, string>>;
  /** The bare repository's local git config, key → value (`http.receivepack` → `true`). */
  config(fullName: string): Promise<Record<string, string>>;
  close(): Promise<void>;
}

const REALM = 'Basic realm="fake-github"';

/** The password of a Basic credential or the token of a Bearer one; the user name is ignored, as GitHub does. */
function credentialOf(header: string | undefined): { user: string; secret: string } | null {
  if (!header) return null;
  const [scheme = '', value = ''] = header.trim().split(/\s+/, 2);
  if (scheme.toLowerCase() === 'bearer') return { user: 'x-access-token', secret: value };
  if (scheme.toLowerCase() !== 'basic') return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { user: decoded.slice(0, colon), secret: decoded.slice(colon + 1) };
}

/** `/owner/name.git/...` → `owner/name`. */
function fullNameOf(path: string): string | null {
  const match = /^\/([^/]+)\/([^/]+)\.git(?:\/|$)/.exec(path);
  return match ? `${match[1]}/${match[2]}` : null;
}

function isPush(path: string, query: string): boolean {
  return (
    path.endsWith('/git-receive-pack') || new URLSearchParams(query).get('service') === 'git-receive-pack'
  );
}

function sendText(res: ServerResponse, status: number, text: string, headers: OutgoingHttpHeaders = {}) {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(text);
}

/** Splits a CGI answer's head (`Status:` plus headers) from its body. */
function parseCgiHead(head: string): { status: number; headers: OutgoingHttpHeaders } {
  let status = 200;
  const headers: OutgoingHttpHeaders = {};
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
    else headers[name] = value;
  }
  return { status, headers };
}

function headEnd(buffer: Buffer): { at: number; length: number } | null {
  const crlf = buffer.indexOf('\r\n\r\n');
  const lf = buffer.indexOf('\n\n');
  if (crlf >= 0 && (lf < 0 || crlf <= lf)) return { at: crlf, length: 4 };
  return lf >= 0 ? { at: lf, length: 2 } : null;
}

/** The CGI variables `git http-backend` reads for one request. */
function cgiEnv(req: IncomingMessage, entry: GitHttpRequest, root: string, user: string): NodeJS.ProcessEnv {
  const encoding = req.headers['content-encoding'];
  const protocol = req.headers['git-protocol'];
  return {
    GIT_PROJECT_ROOT: root,
    GIT_HTTP_EXPORT_ALL: '1',
    REQUEST_METHOD: req.method ?? 'GET',
    PATH_INFO: decodeURIComponent(entry.path),
    QUERY_STRING: entry.query,
    CONTENT_TYPE: req.headers['content-type'] ?? '',
    REMOTE_USER: user,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    // Protocol v2 is negotiated through this header, which CGI passes on as HTTP_GIT_PROTOCOL.
    ...(protocol ? { HTTP_GIT_PROTOCOL: String(protocol) } : {}),
    // http-backend inflates gzip bodies itself when told the encoding.
    ...(encoding ? { HTTP_CONTENT_ENCODING: encoding } : {}),
    // Chunked pushes carry no length; http-backend then reads to end of input.
    ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
  };
}

/**
 * A loopback smart-HTTP git server: every request runs the real `git http-backend`
 * as a CGI, behind GitHub's credential check (Basic with the token as password, or Bearer).
 */
export async function startGitHttpServer(opts: { root?: string; token: string }): Promise<GitHttpServer> {
  const ownedRoot = opts.root ? null : await mkdtemp(join(tmpdir(), 'fake-git-root-'));
  const root = opts.root ?? (ownedRoot as string);
  await mkdir(root, { recursive: true });
  const home = await mkdtemp(join(tmpdir(), 'fake-git-home-'));
  const env = cleanGitEnv(home);
  const tokens = new Set<string>([opts.token]);
  const expiries = new Map<string, number>();
  const readOnly = new Set<string>();
  const requests: GitHttpRequest[] = [];
  const children = new Set<ChildProcess>();
  let mainToken = opts.token;

  const accepts = (secret: string) => {
    const expiry = expiries.get(secret);
    return tokens.has(secret) && (expiry === undefined || expiry > Date.now());
  };

  function runBackend(req: IncomingMessage, res: ServerResponse, entry: GitHttpRequest, user: string) {
    const child = spawn('git', ['http-backend'], { env: { ...env, ...cgiEnv(req, entry, root, user) } });
    children.add(child);
    const stderr: Buffer[] = [];
    let head: Buffer | null = Buffer.alloc(0);
    const fail = (text: string) => {
      if (res.headersSent) return res.destroy();
      entry.status = 500;
      sendText(res, 500, text);
    };
    // A client that hangs up mid-clone should not leave the backend running.
    res.on('close', () => {
      if (!res.writableFinished) child.kill('SIGKILL');
    });

    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // The backend may stop reading early (e.g. on a bad request); the answer still comes on stdout.
    child.stdin.on('error', () => {});
    req.pipe(child.stdin);
    const readHead = (chunk: Buffer) => {
      head = Buffer.concat([head ?? Buffer.alloc(0), chunk]);
      const end = headEnd(head);
      if (!end) return;
      const { status, headers } = parseCgiHead(head.subarray(0, end.at).toString('latin1'));
      entry.status = status;
      res.writeHead(status, headers);
      res.write(head.subarray(end.at + end.length));
      head = null;
      child.stdout.off('data', readHead);
      child.stdout.pipe(res);
    };
    child.stdout.on('data', readHead);
    child.on('error', (error) => fail(`fake git: cannot run git http-backend: ${error.message}`));
    child.on('close', (code) => {
      children.delete(child);
      if (head === null) return;
      fail(
        `fake git: http-backend exited ${code} without an answer\n${Buffer.concat(stderr).toString('utf8')}`,
      );
    });
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = q < 0 ? '' : raw.slice(q + 1);
    const credential = credentialOf(req.headers.authorization);
    const authorized = credential !== null && accepts(credential.secret);
    const entry: GitHttpRequest = {
      method: req.method ?? 'GET',
      path,
      query,
      authorized,
      hasAuthorization: req.headers.authorization !== undefined,
      status: 0,
    };
    requests.push(entry);
    const answer = (status: number, text: string, headers: OutgoingHttpHeaders = {}) => {
      entry.status = status;
      req.resume();
      sendText(res, status, text, headers);
    };

    if (!credential || !authorized) return answer(401, 'Unauthorized\n', { 'www-authenticate': REALM });
    const fullName = fullNameOf(path);
    if (!fullName) return answer(404, 'Repository not found.\n');
    if (isPush(path, query) && readOnly.has(fullName)) {
      return answer(403, `Permission to ${fullName}.git denied to ${credential.user}.\n`);
    }
    runBackend(req, res, entry, credential.user);
  }

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  const dirOf = (fullName: string) => repoDir(root, fullName);

  return {
    url,
    root,
    get token() {
      return mainToken;
    },
    set token(value: string) {
      mainToken = value;
      tokens.clear();
      expiries.clear();
      tokens.add(value);
    },
    tokens,
    addToken(token, expiresAt) {
      tokens.add(token);
      if (expiresAt) expiries.set(token, expiresAt.getTime());
    },
    readOnly,
    requests,
    async createRepo(fullName, files, createOpts = {}) {
      const branch = createOpts.branch ?? 'main';
      const dir = dirOf(fullName);
      await mkdir(dir, { recursive: true });
      await runGit(env, dir, ['init', '--bare', '--quiet']);
      await runGit(env, dir, ['symbolic-ref', 'HEAD', `refs/heads/${branch}`]);
      await runGit(env, dir, ['config', 'http.receivepack', 'true']);
      await writeCommit(env, dir, branch, files, 'Initial commit', join(home, 'scratch'));
      return `${url}/${fullName}.git`;
    },
    commitTo(fullName, branch, files, message) {
      return writeCommit(env, dirOf(fullName), branch, files, message, join(home, 'scratch'));
    },
    readFile: (fullName, ref, path) => readGitFile(env, dirOf(fullName), ref, path),
    log: (fullName, ref) => gitLog(env, dirOf(fullName), ref),
    branches: (fullName) => gitBranches(env, dirOf(fullName)),
    config: (fullName) => gitConfig(env, dirOf(fullName)),
    async close() {
      for (const child of children) child.kill('SIGKILL');
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(home, { recursive: true, force: true });
      if (ownedRoot) await rm(ownedRoot, { recursive: true, force: true });
    },
  };
}
