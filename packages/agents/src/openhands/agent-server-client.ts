import { TransientRunnerError } from '../runner.ts';

/*
 * REST calls of the OpenHands agent-server (OpenHands/software-agent-sdk,
 * openhands-agent-server/openhands/agent_server): every /api route checks the
 * `X-Session-API-Key` header (dependencies.py, check_session_api_key → 401);
 * conversation_router.py serves POST /api/conversations (201 + ConversationInfo),
 * GET /api/conversations/{id}, POST …/{id}/run (409 when already running),
 * POST …/{id}/pause and DELETE …/{id} (both {"success": true}). Liveness is
 * GET /alive → {"status":"ok"} without auth (server_details_router.py).
 */

export const AUTH_REJECTED = 'OPENHANDS_API_KEY rejected by the agent-server';
const REQUEST_TIMEOUT_MS = 30_000;

export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function trimBase(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The error code under a failed fetch (ECONNREFUSED …); undici nests it, sometimes in an AggregateError. */
function networkCode(err: unknown): string | undefined {
  let cause: unknown = err;
  for (let depth = 0; depth < 4 && cause; depth++) {
    const c = cause as { code?: unknown; errors?: unknown[]; cause?: unknown };
    if (typeof c.code === 'string') return c.code;
    if (Array.isArray(c.errors) && c.errors.length) cause = c.errors[0];
    else cause = c.cause;
  }
  return undefined;
}

function unreachable(base: string, err: unknown): TransientRunnerError {
  const code = networkCode(err) ?? (err instanceof Error ? err.message : String(err));
  return new TransientRunnerError(
    `the OpenHands agent-server at OPENHANDS_URL (${base}) is unreachable: ${code}`,
  );
}

async function detail(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { detail?: unknown; exception?: unknown };
    const d = body.exception ?? body.detail;
    if (d !== undefined) return typeof d === 'string' ? d : JSON.stringify(d);
  } catch {
    // not JSON: use the text
  }
  return text.slice(0, 500);
}

export class AgentServerClient {
  readonly base: string;

  constructor(
    url: string,
    private readonly apiKey?: string,
  ) {
    this.base = trimBase(url);
  }

  /**
   * One JSON request. Refused connections, timeouts, 408/429 and 5xx become
   * TransientRunnerError (worth a retry); 401/403 an error naming the key;
   * other 4xx an HttpStatusError with the server's detail.
   */
  async request<T>(
    method: string,
    path: string,
    signal: AbortSignal,
    body?: unknown,
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(timeoutMs);
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          accept: 'application/json',
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...(this.apiKey ? { 'X-Session-API-Key': this.apiKey } : {}),
        },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.any([signal, timeout]),
      });
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (timeout.aborted) {
        throw new TransientRunnerError(
          `the OpenHands agent-server at OPENHANDS_URL (${this.base}) did not answer ${method} ${path} in ${timeoutMs} ms`,
        );
      }
      throw unreachable(this.base, err);
    }
    if (res.ok) {
      const text = await res.text();
      return (text ? JSON.parse(text) : undefined) as T;
    }
    const why = await detail(res);
    if (res.status === 401 || res.status === 403) throw new Error(AUTH_REJECTED);
    if (res.status === 408 || res.status === 429 || res.status >= 500) {
      throw new TransientRunnerError(
        `the OpenHands agent-server at OPENHANDS_URL (${this.base}) answered ${res.status} to ${method} ${path}${why ? `: ${why}` : ''}`,
      );
    }
    throw new HttpStatusError(
      res.status,
      `the OpenHands agent-server answered ${res.status} to ${method} ${path}${why ? `: ${why}` : ''}`,
    );
  }
}
