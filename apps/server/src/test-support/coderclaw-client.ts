/**
 * Speaks to the server exactly as CoderClaw's unchanged ClawLinkTransportAdapter
 * does (shared/coderclaw-contract.md): JSON headers on every request, a body-less
 * session POST, no Authorization, errors thrown with status and body text.
 */
export interface ClientOptions {
  baseUrl: string;
  userId?: string;
  deviceId?: string;
  pollIntervalMs?: number;
  timeoutMs?: number;
}

export class CoderClawClient {
  private readonly baseUrl: string;
  sessionId: string | null = null;

  constructor(private readonly opts: ClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/$/, '');
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.baseUrl}${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`ClawLink request failed: ${res.status} ${text}`);
    return JSON.parse(text) as T;
  }

  async connect() {
    const q = new URLSearchParams();
    if (this.opts.userId) q.set('user_id', this.opts.userId);
    if (this.opts.deviceId) q.set('device_id', this.opts.deviceId);
    const qs = q.toString();
    const session = await this.request<{ session_id: string } & Record<string, unknown>>(
      'POST',
      `/api/runtime/sessions${qs ? `?${qs}` : ''}`,
    );
    this.sessionId = session.session_id;
    return session;
  }

  submit(agentType: string | undefined, prompt: string, context: Record<string, unknown>) {
    return this.request<Record<string, unknown>>('POST', '/api/runtime/tasks/submit', {
      agent_type: agentType ?? 'general-purpose',
      prompt,
      context,
      session_id: this.sessionId,
    });
  }

  async queryTaskState(taskId: string): Promise<Record<string, unknown> | null> {
    try {
      return await this.request('GET', `/api/runtime/tasks/${taskId}/state`);
    } catch {
      return null;
    }
  }

  /** Polls until terminal, yielding each state change, like the adapter's stream. */
  async *stream(taskId: string): AsyncGenerator<Record<string, unknown>> {
    let last: unknown;
    for (;;) {
      const state = await this.queryTaskState(taskId);
      if (!state) throw new Error(`task ${taskId} vanished`);
      if (state.state !== last) {
        last = state.state;
        yield state;
      }
      if (['completed', 'failed', 'cancelled'].includes(String(state.state))) return;
      await new Promise((r) => setTimeout(r, this.opts.pollIntervalMs ?? 1000));
    }
  }

  async cancel(taskId: string): Promise<boolean> {
    try {
      const res = await this.request<{ success: boolean }>('POST', `/api/runtime/tasks/${taskId}/cancel`, {
        session_id: this.sessionId,
      });
      return res.success;
    } catch {
      return false;
    }
  }

  listAgents() {
    return this.request<Array<Record<string, unknown>>>(
      'GET',
      `/api/runtime/agents?session_id=${this.sessionId}`,
    );
  }

  listSkills() {
    return this.request<Array<Record<string, unknown>>>(
      'GET',
      `/api/runtime/skills?session_id=${this.sessionId}`,
    );
  }
}
