import type { ErrorBody } from '@ccl/contracts';

/** An answer of the API that was not 2xx, carrying the server's own explanation. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** What a person can do about an error, appended to the server's message in toasts. */
export function adviceFor(err: unknown): string {
  if (!(err instanceof ApiError)) {
    return 'The server could not be reached: check that clawlink is running, then try again.';
  }
  switch (err.status) {
    case 400:
      return `${err.message}. Correct the input and try again.`;
    case 401:
      return `${err.message}. Sign in again or open the board from the server's own machine.`;
    case 403:
      return `${err.message}. Ask an administrator for the permission.`;
    case 404:
      return `${err.message}. It may have been deleted: reload the page.`;
    case 409:
      return `${err.message}. Someone changed it meanwhile: reload and try again.`;
    case 429:
      return `${err.message}.`;
    default:
      return `${err.message}. Try again; if it keeps failing, check the server log for the request id.`;
  }
}

/**
 * What the session (see session.tsx) tells every request: the CSRF token that must ride on each
 * change made with the sign-in cookie, and what to do when the server no longer knows us.
 */
const auth: { csrfToken: string | null; onUnauthorized: (() => void) | null } = {
  csrfToken: null,
  onUnauthorized: null,
};

export function setCsrfToken(token: string | null) {
  auth.csrfToken = token;
}

export function onUnauthorized(handler: (() => void) | null) {
  auth.onUnauthorized = handler;
}

/** A 401 means the sign-in is gone (expired, revoked, never there): the session sends us to /login. */
export function reportUnauthorized() {
  auth.onUnauthorized?.();
}

const SAFE_METHODS = new Set(['GET', 'HEAD']);

interface RequestOptions {
  /** The sign-in form handles its own 401 (wrong password) instead of being sent to /login. */
  redirectOn401?: boolean;
}

async function request<T>(
  method: string,
  path: string,
  body?: unknown,
  opts: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> =
    body === undefined ? { accept: 'application/json' } : { 'content-type': 'application/json' };
  if (!SAFE_METHODS.has(method) && auth.csrfToken) headers['x-csrf-token'] = auth.csrfToken;
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new Error(`network error: ${(err as Error).message}`);
  }
  const text = await res.text();
  if (!res.ok) {
    let parsed: Partial<ErrorBody> = {};
    try {
      parsed = JSON.parse(text) as ErrorBody;
    } catch {
      // A proxy's HTML error page: fall back to the status line.
    }
    if (res.status === 401 && opts.redirectOn401 !== false) reportUnauthorized();
    throw new ApiError(res.status, parsed.error ?? 'error', parsed.message ?? `HTTP ${res.status}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, opts?: RequestOptions) => request<T>('GET', path, undefined, opts),
  post: <T>(path: string, body?: unknown, opts?: RequestOptions) => request<T>('POST', path, body, opts),
  patch: <T>(path: string, body: unknown) => request<T>('PATCH', path, body),
  put: <T>(path: string, body: unknown) => request<T>('PUT', path, body),
  delete: <T>(path: string) => request<T>('DELETE', path),
};

/** Builds a query string, leaving out empty values. */
export function query(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}
