import {
  type AdapterExecutionResponse,
  type AgentInfo,
  adapterAgentResponse,
  adapterExecutionResponse,
  adapterNextTaskResponse,
  adapterSkillResponse,
  type ClawLinkConfig,
  type SkillInfo,
  type TaskState,
  type TaskStatus,
  type TaskSubmitRequest,
  type TaskUpdateEvent,
} from './clawlink-adapter-types.ts';

/**
 * Speaks to the server exactly as CoderClaw 2026.3's unchanged ClawLinkTransportAdapter does
 * (SeanHogg/coderclaw product/src/transport/clawlink-adapter.ts; docs/coderclaw.md): the same paths,
 * headers, bodies, status checks and mapping to TaskState. Each answer is also parsed with the schema
 * of the adapter's own types (clawlink-adapter-types.ts), so a drift fails the test that caused it.
 * The older session contract's client is coderclaw-client.ts.
 */
export class ClawLinkAdapterClient {
  private readonly baseUrl: string;
  private readonly pollIntervalMs: number;
  private readonly timeoutMs: number;
  /** Every answer body the server gave, newest last (tests read the raw wire values here). */
  readonly answers: unknown[] = [];

  constructor(private readonly config: ClawLinkConfig) {
    this.baseUrl = config.baseUrl.replace(/\/$/, '');
    this.pollIntervalMs = config.pollIntervalMs ?? 1000;
    this.timeoutMs = config.timeoutMs ?? 30_000;
  }

  /** No session in this generation: connect() and close() do nothing. */
  async connect(): Promise<void> {}
  async close(): Promise<void> {}

  async submitTask(request: TaskSubmitRequest): Promise<TaskState> {
    const taskId = this.resolveTaskId(request);
    const body = {
      taskId,
      agentId: this.parseAgentId(request.agentId),
      clawId: this.config.clawId,
      sessionId: request.sessionId,
      payload: request.input,
    };
    const raw = await this.post<AdapterExecutionResponse>(`${this.baseUrl}/api/runtime/executions`, body);
    return this.toTaskState(adapterExecutionResponse.parse(raw), request);
  }

  async *streamTaskUpdates(taskId: string): AsyncIterableIterator<TaskUpdateEvent> {
    const terminal = new Set<TaskStatus>(['completed', 'failed', 'cancelled']);
    let last: TaskStatus = 'pending';
    for (;;) {
      await sleep(this.pollIntervalMs);
      const raw = adapterExecutionResponse.parse(
        await this.post(`${this.baseUrl}/api/runtime/executions/${encodeURIComponent(taskId)}`, null, 'GET'),
      );
      const status = mapStatus(raw.status);
      if (status !== last) {
        last = status;
        yield {
          taskId,
          status,
          timestamp: new Date(),
          ...(raw.errorMessage ? { message: raw.errorMessage } : {}),
          ...(status === 'completed' ? { progress: 100 } : {}),
        };
      }
      if (terminal.has(status)) break;
    }
  }

  async queryTaskState(taskId: string): Promise<TaskState | null> {
    try {
      const raw = await this.post(
        `${this.baseUrl}/api/runtime/executions/${encodeURIComponent(taskId)}`,
        null,
        'GET',
      );
      return this.toTaskState(adapterExecutionResponse.parse(raw));
    } catch {
      return null;
    }
  }

  async fetchNextQueuedTask(): Promise<TaskState | null> {
    try {
      const res = adapterNextTaskResponse.parse(
        await this.post(`${this.baseUrl}/api/tasks/next`, null, 'POST'),
      );
      if (!res.task) return null;
      const t = res.task;
      return {
        id: String(t.id),
        status: (t.status as TaskStatus) ?? 'pending',
        progress: 0,
        description: `Task ${t.id}`,
        createdAt: new Date(),
        metadata: { projectId: t.projectId, priority: t.priority },
      };
    } catch {
      return null;
    }
  }

  async cancelTask(taskId: string): Promise<boolean> {
    try {
      const result = adapterExecutionResponse.parse(
        await this.post(`${this.baseUrl}/api/runtime/executions/${encodeURIComponent(taskId)}/cancel`, {}),
      );
      return mapStatus(result.status) === 'cancelled';
    } catch {
      return false;
    }
  }

  async listAgents(): Promise<AgentInfo[]> {
    const agents = adapterAgentResponse
      .array()
      .parse(await this.post(`${this.baseUrl}/api/agents${this.identityQuery()}`, null, 'GET'));
    return agents.map((a) => ({
      id: a.agent_type,
      name: a.name,
      description: a.description ?? a.agent_type,
      capabilities: a.capabilities ?? [],
    }));
  }

  /** With a clawId the instance's own list (`/api/claws/{clawId}/skills`), else `/api/skills`. */
  async listSkills(): Promise<SkillInfo[]> {
    const url =
      this.config.clawId !== undefined
        ? `${this.baseUrl}/api/claws/${this.config.clawId}/skills`
        : `${this.baseUrl}/api/skills${this.identityQuery()}`;
    const raw = await this.post<unknown>(url, null, 'GET');
    const list = Array.isArray(raw) ? raw : (raw as { skills?: unknown }).skills;
    return adapterSkillResponse
      .array()
      .parse(list)
      .map((s) => ({
        id: s.skill_id,
        name: s.name,
        description: s.description ?? s.skill_id,
        version: '1.0.0',
        enabled: true,
      }));
  }

  /** The adapter's one HTTP helper, also for tests that send what the adapter would not. */
  async post<T = unknown>(url: string, body: unknown, method: 'POST' | 'GET' = 'POST'): Promise<T> {
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      Accept: 'application/json',
    };
    if (this.config.authToken) headers.Authorization = `Bearer ${this.config.authToken}`;
    if (this.config.clawId !== undefined) headers['X-Claw-Id'] = String(this.config.clawId);
    const init: RequestInit = { method, headers, signal: AbortSignal.timeout(this.timeoutMs) };
    if (method === 'POST' && body !== null) init.body = JSON.stringify(body);
    const response = await fetch(url, init);
    if (!response.ok) {
      const text = await response.text().catch(() => response.statusText);
      throw new Error(`ClawLink ${method} ${url} → ${response.status}: ${text}`);
    }
    const json = (await response.json()) as T;
    this.answers.push(json);
    return json;
  }

  private identityQuery(): string {
    const params = new URLSearchParams();
    if (this.config.userId) params.set('user_id', this.config.userId);
    if (this.config.deviceId) params.set('device_id', this.config.deviceId);
    return params.size > 0 ? `?${params}` : '';
  }

  private resolveTaskId(request: TaskSubmitRequest): number {
    const candidate = request.metadata?.taskId;
    const value =
      typeof candidate === 'number'
        ? candidate
        : typeof candidate === 'string'
          ? Number(candidate)
          : Number.NaN;
    if (!Number.isFinite(value) || value <= 0) {
      throw new Error(
        'ClawLinkTransportAdapter requires metadata.taskId (numeric) for /api/runtime/executions',
      );
    }
    return value;
  }

  private parseAgentId(agentId: string | undefined): number | undefined {
    if (!agentId) return undefined;
    const numeric = Number(agentId);
    return Number.isFinite(numeric) ? numeric : undefined;
  }

  private toTaskState(raw: AdapterExecutionResponse, req?: TaskSubmitRequest): TaskState {
    const status = mapStatus(raw.status);
    const sessionId = raw.sessionId ?? req?.sessionId;
    return {
      id: String(raw.id),
      status,
      ...(req?.agentId ? { agentId: req.agentId } : {}),
      description: req?.description ?? `Execution ${raw.id}`,
      ...(sessionId ? { sessionId } : {}),
      ...(req?.parentTaskId ? { parentTaskId: req.parentTaskId } : {}),
      createdAt: new Date(raw.createdAt),
      ...(raw.startedAt ? { startedAt: new Date(raw.startedAt) } : {}),
      ...(raw.completedAt ? { completedAt: new Date(raw.completedAt) } : {}),
      ...(raw.result !== null ? { output: raw.result } : {}),
      ...(raw.errorMessage !== null ? { error: raw.errorMessage } : {}),
      ...(status === 'completed' ? { progress: 100 } : {}),
      metadata: {
        taskId: raw.taskId,
        clawId: raw.clawId,
        tenantId: raw.tenantId,
        submittedBy: raw.submittedBy,
        sessionId: raw.sessionId,
      },
    };
  }
}

function mapStatus(status: AdapterExecutionResponse['status']): TaskStatus {
  return status === 'submitted' ? 'pending' : status;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
