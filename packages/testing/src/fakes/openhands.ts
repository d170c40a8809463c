import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, resolve } from 'node:path';
import { type WebSocket, WebSocketServer } from 'ws';
import { ohStateUpdate, ohStatus } from './openhands-events.ts';

/*
 * A loopback OpenHands agent-server for tests, speaking the routes and shapes of
 * the real one (OpenHands/software-agent-sdk, openhands-agent-server):
 *   GET  /alive, /health, /server_info                   no auth
 *   POST /api/conversations                              StartConversationRequest → 201 ConversationInfo
 *   GET  /api/conversations/search, /count, /{id}
 *   POST /api/conversations/{id}/run                     409 when already running
 *   POST /api/conversations/{id}/pause, DELETE /api/conversations/{id}   → {"success": true}
 *   POST /api/conversations/{id}/events                  SendMessageRequest
 *   POST /api/conversations/{id}/events/respond_to_confirmation   {accept, reason}
 *   GET  /api/conversations/{id}/events/search            limit, page_id, sort_order TIMESTAMP | TIMESTAMP_DESC
 *   WS   /sockets/events/{id}                            full_state on subscribe, then live events
 * /api routes check X-Session-API-Key (401 otherwise); the socket takes the key
 * as header, `session_api_key` query or a first {"type":"auth"} frame.
 *
 * Confirmation mode as the SDK implements it (agent.py, security/confirmation_policy.py,
 * local_conversation.py): under AlwaysConfirm (or ConfirmRisky for HIGH/UNKNOWN risk)
 * the agent stops after emitting an action batch (one LLM response) with status
 * waiting_for_confirmation; a lone FinishAction never waits. Accepting (or POST /run)
 * carries on; rejecting emits a UserRejectObservation per pending action and leaves the
 * conversation idle until it is run again.
 */

type Json = Record<string, unknown>;

/** A scripted event (an object with `kind`), or an action of the fake agent itself. */
export type FakeOpenHandsStep =
  | Json
  | { sleep_ms: number }
  /** Writes a file in the conversation's working_dir, as the agent's tools would. */
  | { write_file: { path: string; content: string } }
  /**
   * Right after an action that waits for confirmation: what the agent does next when the
   * action is accepted (run it: observation, side effects) or rejected (the agent's
   * reaction to the UserRejectObservation, once the conversation runs again).
   */
  | { after_confirmation: { accepted: FakeOpenHandsStep[]; rejected: FakeOpenHandsStep[] } };

export interface FakeOpenHandsScriptOptions {
  /** Status after the last step; null leaves the conversation running until paused or deleted. */
  finalStatus?: 'finished' | 'error' | 'stuck' | null;
  /** Pause between steps, in ms (default 2). */
  delayMs?: number;
}

export interface FakeOpenHandsRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
}

interface Conversation {
  id: string;
  request: Json;
  workingDir: string;
  status: string;
  events: Json[];
  sockets: Set<WebSocket>;
  steps: FakeOpenHandsStep[];
  /** The next step to play. */
  cursor: number;
  opts: FakeOpenHandsScriptOptions;
  playing: boolean;
  createdAt: string;
  confirmationPolicy: Json;
  /** ActionEvents waiting for confirmation, and the script's branches for the answer. */
  pending: Json[];
  branch: { accepted: FakeOpenHandsStep[]; rejected: FakeOpenHandsStep[] } | undefined;
  /** How many times the agent loop was started (POST /run, accepted confirmations, run messages). */
  runs: number;
}

const DEFAULT_SCRIPT: FakeOpenHandsStep[] = [];

export class FakeOpenHandsServer {
  readonly requests: FakeOpenHandsRequest[] = [];
  /** Ids of conversations that were paused / deleted, in order. */
  readonly paused: string[] = [];
  readonly deleted: string[] = [];
  private readonly conversations = new Map<string, Conversation>();
  private readonly scripts: { steps: FakeOpenHandsStep[]; opts: FakeOpenHandsScriptOptions }[] = [];
  private readonly failures: number[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  url = '';

  private constructor(
    private readonly server: Server,
    private readonly apiKey: string | undefined,
  ) {}

  static async start(opts: { apiKey?: string } = {}): Promise<FakeOpenHandsServer> {
    const server = createServer();
    const fake = new FakeOpenHandsServer(server, opts.apiKey);
    server.on('request', (req, res) => {
      fake
        .handle(req, res)
        .catch((err: unknown) =>
          fake.send(res, 500, { detail: 'Internal Server Error', exception: String(err) }),
        );
    });
    server.on('upgrade', (req, socket, head) => fake.upgrade(req, socket, head));
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return fake;
  }

  /** The events the next created conversation plays once it runs (FIFO; later ones get an empty script). */
  script(steps: FakeOpenHandsStep[], opts: FakeOpenHandsScriptOptions = {}): void {
    this.scripts.push({ steps, opts });
  }

  /** The next `count` /api requests answer `status` (e.g. 503) instead. */
  failNext(status: number, count = 1): void {
    for (let i = 0; i < count; i++) this.failures.push(status);
  }

  /** Event sockets currently open. */
  get openSockets(): number {
    return this.wss.clients.size;
  }

  conversation(
    id: string,
  ): { status: string; events: Json[]; request: Json; runs: number; pending: Json[] } | undefined {
    const c = this.conversations.get(id);
    return (
      c && {
        status: c.status,
        events: [...c.events],
        request: c.request,
        runs: c.runs,
        pending: [...c.pending],
      }
    );
  }

  get conversationIds(): string[] {
    return [...this.conversations.keys()];
  }

  async close(): Promise<void> {
    for (const ws of this.wss.clients) ws.terminate();
    for (const c of this.conversations.values()) c.playing = false;
    await new Promise<void>((done) => this.wss.close(() => done()));
    this.server.closeAllConnections();
    await new Promise<void>((done) => this.server.close(() => done()));
  }

  // ---- HTTP ----

  private send(res: ServerResponse, status: number, body: unknown) {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async readBody(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString();
    if (!text) return undefined;
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const body = await this.readBody(req);
    this.requests.push({
      method,
      path: url.pathname + url.search,
      headers: req.headers,
      ...(body !== undefined ? { body } : {}),
    });
    const path = url.pathname;

    if (method === 'GET' && path === '/alive') return this.send(res, 200, { status: 'ok' });
    if (method === 'GET' && path === '/health') return this.send(res, 200, 'OK');
    if (method === 'GET' && path === '/server_info') {
      return this.send(res, 200, {
        uptime: 1,
        idle_time: 0,
        title: 'OpenHands Agent Server',
        version: 'fake',
      });
    }
    if (!path.startsWith('/api/')) return this.send(res, 404, { detail: 'Not Found' });
    if (this.apiKey && req.headers['x-session-api-key'] !== this.apiKey) {
      return this.send(res, 401, { detail: 'Unauthorized' });
    }
    const failure = this.failures.shift();
    if (failure !== undefined) return this.send(res, failure, { detail: `injected ${failure}` });

    if (path === '/api/conversations' && method === 'POST') return this.startConversation(res, body);
    if (path === '/api/conversations/search' && method === 'GET') {
      return this.send(res, 200, {
        items: [...this.conversations.values()].map((c) => this.info(c)),
        next_page_id: null,
      });
    }
    if (path === '/api/conversations/count' && method === 'GET') {
      return this.send(res, 200, this.conversations.size);
    }

    const m = /^\/api\/conversations\/([^/]+)(\/.*)?$/.exec(path);
    const c = m?.[1] ? this.conversations.get(m[1]) : undefined;
    const sub = m?.[2] ?? '';
    if (!m) return this.send(res, 404, { detail: 'Not Found' });
    if (!c) return this.send(res, 404, { detail: 'Not Found' });

    if (sub === '' && method === 'GET') return this.send(res, 200, this.info(c));
    if (sub === '' && method === 'DELETE') {
      this.deleted.push(c.id);
      c.playing = false;
      this.conversations.delete(c.id);
      for (const ws of c.sockets) ws.close(1000, 'conversation deleted');
      return this.send(res, 200, { success: true });
    }
    if (sub === '/run' && method === 'POST') {
      if (c.status === 'running')
        return this.send(res, 409, {
          detail: 'Conversation already running. Wait for completion or pause first.',
        });
      // Running a conversation that waits for confirmation accepts the pending actions.
      if (c.status === 'waiting_for_confirmation') this.resumeAfterConfirmation(c, true);
      else this.play(c);
      return this.send(res, 200, { success: true });
    }
    if (sub === '/pause' && method === 'POST') {
      this.paused.push(c.id);
      c.playing = false;
      this.emit(c, {
        kind: 'PauseEvent',
        id: randomUUID(),
        timestamp: new Date().toISOString(),
        source: 'user',
      });
      this.setStatus(c, 'paused');
      return this.send(res, 200, { success: true });
    }
    if (sub === '/events' && method === 'POST') {
      const msg = (body ?? {}) as Json;
      this.emit(c, {
        kind: 'MessageEvent',
        id: randomUUID(),
        timestamp: new Date().toISOString(),
        source: 'user',
        llm_message: { role: msg.role ?? 'user', content: msg.content ?? [] },
      });
      if (msg.run === true && c.status !== 'running') this.play(c);
      return this.send(res, 200, { success: true });
    }
    if (sub === '/events/respond_to_confirmation' && method === 'POST') {
      return this.respondToConfirmation(res, c, body);
    }
    if (sub === '/events/search' && method === 'GET') {
      // Pages as the agent-server's: next_page_id names the first event of the next page.
      const limit = Math.min(100, Number(url.searchParams.get('limit') ?? 100) || 100);
      const sorted =
        url.searchParams.get('sort_order') === 'TIMESTAMP_DESC' ? [...c.events].reverse() : c.events;
      const pageId = url.searchParams.get('page_id');
      const start = pageId
        ? Math.max(
            0,
            sorted.findIndex((e) => e.id === pageId),
          )
        : 0;
      const next = sorted[start + limit];
      return this.send(res, 200, {
        items: sorted.slice(start, start + limit),
        next_page_id: next ? String(next.id) : null,
      });
    }
    return this.send(res, 404, { detail: 'Not Found' });
  }

  /** Validates like StartConversationRequest: a workspace and exactly one agent source. */
  private async startConversation(res: ServerResponse, body: unknown) {
    const req = (typeof body === 'object' && body !== null ? body : {}) as Json;
    const workspace = req.workspace as Json | undefined;
    if (typeof workspace?.working_dir !== 'string') {
      return this.send(res, 422, {
        detail: [{ type: 'missing', loc: ['body', 'workspace'], msg: 'Field required' }],
      });
    }
    const sources = ['agent', 'agent_profile_id', 'agent_profile', 'agent_settings'].filter(
      (k) => req[k] != null,
    );
    if (sources.length !== 1) {
      return this.send(res, 422, {
        detail: [
          {
            type: 'value_error',
            loc: ['body'],
            msg: 'Value error, One of `agent`, `agent_profile_id`, `agent_profile`, or `agent_settings` must be provided',
          },
        ],
      });
    }
    const agent = req.agent as Json | undefined;
    if (agent && typeof (agent.llm as Json | undefined)?.model !== 'string') {
      return this.send(res, 422, {
        detail: [{ type: 'missing', loc: ['body', 'agent', 'llm', 'model'], msg: 'Field required' }],
      });
    }
    const initial = req.initial_message as Json | undefined;
    if (
      initial &&
      (!Array.isArray(initial.content) ||
        !['user', 'system', 'assistant', 'tool'].includes(String(initial.role ?? 'user')))
    ) {
      return this.send(res, 422, {
        detail: [{ type: 'value_error', loc: ['body', 'initial_message'], msg: 'Invalid message' }],
      });
    }
    await mkdir(workspace.working_dir, { recursive: true });
    const script = this.scripts.shift() ?? { steps: DEFAULT_SCRIPT, opts: {} };
    const policy = req.confirmation_policy as Json | undefined;
    if (
      policy !== undefined &&
      !['NeverConfirm', 'AlwaysConfirm', 'ConfirmRisky'].includes(String(policy?.kind))
    ) {
      return this.send(res, 422, {
        detail: [
          {
            type: 'union_tag_invalid',
            loc: ['body', 'confirmation_policy'],
            msg: 'Input tag does not match',
          },
        ],
      });
    }
    const c: Conversation = {
      id: typeof req.conversation_id === 'string' ? req.conversation_id : randomUUID(),
      request: req,
      workingDir: workspace.working_dir,
      status: 'idle',
      events: [],
      sockets: new Set(),
      steps: [...script.steps],
      cursor: 0,
      opts: script.opts,
      playing: false,
      createdAt: new Date().toISOString(),
      confirmationPolicy: policy ?? { kind: 'NeverConfirm' },
      pending: [],
      branch: undefined,
      runs: 0,
    };
    this.conversations.set(c.id, c);
    if (initial) {
      c.events.push({
        kind: 'MessageEvent',
        id: randomUUID(),
        timestamp: new Date().toISOString(),
        source: 'user',
        llm_message: { role: initial.role ?? 'user', content: initial.content },
      });
      if (initial.run === true) this.play(c);
    }
    return this.send(res, 201, this.info(c));
  }

  private stats(c: Conversation): Json {
    for (let i = c.events.length - 1; i >= 0; i--) {
      const ev = c.events[i];
      if (ev?.kind === 'ConversationStateUpdateEvent' && ev.key === 'stats') return ev.value as Json;
    }
    return { usage_to_metrics: {} };
  }

  /** ConversationInfo (models.py): the state plus stored metadata. */
  private info(c: Conversation): Json {
    return {
      id: c.id,
      workspace: { kind: 'LocalWorkspace', working_dir: c.workingDir },
      agent: c.request.agent ?? null,
      persistence_dir: 'workspace/conversations',
      max_iterations: c.request.max_iterations ?? 500,
      stuck_detection: c.request.stuck_detection ?? true,
      execution_status: c.status,
      confirmation_policy: c.confirmationPolicy,
      security_analyzer: null,
      activated_knowledge_skills: [],
      stats: this.stats(c),
      title: null,
      metrics: null,
      created_at: c.createdAt,
      updated_at: new Date().toISOString(),
      tags: {},
    };
  }

  // ---- the "agent" ----

  private emit(c: Conversation, event: Json) {
    const ev = { id: randomUUID(), timestamp: new Date().toISOString(), ...event };
    c.events.push(ev);
    const frame = JSON.stringify(ev);
    for (const ws of c.sockets) ws.send(frame);
  }

  private setStatus(c: Conversation, status: string) {
    c.status = status;
    // State updates go to subscribers but are not part of the persisted event history.
    const frame = JSON.stringify(ohStatus(status));
    for (const ws of c.sockets) ws.send(frame);
  }

  private play(c: Conversation) {
    c.playing = true;
    c.runs++;
    this.setStatus(c, 'running');
    const delayMs = c.opts.delayMs ?? 2;
    const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));
    void (async () => {
      while (c.cursor < c.steps.length) {
        await sleep(delayMs);
        if (!c.playing) return;
        const step = c.steps[c.cursor++] as Json;
        if (typeof step.sleep_ms === 'number') {
          // In slices, so that a pause or delete ends the wait (and no timer outlives the test).
          const until = Date.now() + step.sleep_ms;
          while (c.playing && Date.now() < until) await sleep(Math.min(20, until - Date.now()));
        } else if (typeof step.write_file === 'object' && step.write_file !== null) {
          const file = step.write_file as { path: string; content: string };
          const target = resolve(c.workingDir, file.path);
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, file.content);
        } else if (step.after_confirmation) {
          // A branch that no confirmation asked for: the action ran, so the accepted branch follows.
          const branch = step.after_confirmation as { accepted: FakeOpenHandsStep[] };
          c.steps.splice(c.cursor, 0, ...branch.accepted);
        } else if (step.kind === 'ActionEvent') {
          if (this.emitActionBatch(c, step)) return;
        } else {
          this.emit(c, step);
        }
        if (!c.playing) return;
      }
      const final = c.opts.finalStatus === undefined ? 'finished' : c.opts.finalStatus;
      if (final) {
        c.playing = false;
        this.setStatus(c, final);
      }
    })();
  }

  /**
   * Emits the actions of one LLM response (consecutive ActionEvents sharing llm_response_id);
   * returns true when the conversation now waits for confirmation.
   */
  private emitActionBatch(c: Conversation, first: Json): boolean {
    const batch = [first];
    for (;;) {
      const next = c.steps[c.cursor] as Json | undefined;
      if (next?.kind !== 'ActionEvent' || next.llm_response_id !== first.llm_response_id) break;
      batch.push(next);
      c.cursor++;
    }
    for (const action of batch) this.emit(c, action);
    if (!this.mustConfirm(c, batch)) return false;
    c.pending = batch;
    const next = c.steps[c.cursor] as Json | undefined;
    c.branch = next?.after_confirmation as Conversation['branch'];
    if (c.branch) c.cursor++;
    c.playing = false;
    this.setStatus(c, 'waiting_for_confirmation');
    return true;
  }

  /** agent.py _requires_user_confirmation plus the policy's should_confirm(risk). */
  private mustConfirm(c: Conversation, batch: Json[]): boolean {
    const isFinish = (a: Json) => (a.action as Json | undefined)?.kind === 'FinishAction';
    if (batch.length === 1 && batch[0] && isFinish(batch[0])) return false;
    const policy = c.confirmationPolicy;
    if (policy.kind === 'AlwaysConfirm') return true;
    if (policy.kind !== 'ConfirmRisky') return false;
    const levels = ['LOW', 'MEDIUM', 'HIGH'];
    const threshold = levels.indexOf(String(policy.threshold ?? 'HIGH'));
    return batch.some((a) => {
      const risk = String(a.security_risk ?? 'UNKNOWN');
      return risk === 'UNKNOWN' ? policy.confirm_unknown !== false : levels.indexOf(risk) >= threshold;
    });
  }

  /** ConfirmationResponseRequest {accept, reason = "User rejected the action."}. */
  private respondToConfirmation(res: ServerResponse, c: Conversation, body: unknown) {
    const req = (typeof body === 'object' && body !== null ? body : {}) as Json;
    if (typeof req.accept !== 'boolean') {
      return this.send(res, 422, {
        detail: [{ type: 'missing', loc: ['body', 'accept'], msg: 'Field required' }],
      });
    }
    const reason = typeof req.reason === 'string' ? req.reason : 'User rejected the action.';
    if (req.accept) {
      // EventService.respond_to_confirmation: accept = run(); already running is a no-op.
      if (c.status !== 'running') this.resumeAfterConfirmation(c, true);
      return this.send(res, 200, { success: true });
    }
    for (const action of c.pending) {
      this.emit(c, {
        kind: 'UserRejectObservation',
        source: 'user',
        action_id: action.id,
        tool_name: action.tool_name,
        tool_call_id: action.tool_call_id,
        rejection_reason: reason,
      });
    }
    this.resumeAfterConfirmation(c, false);
    return this.send(res, 200, { success: true });
  }

  /** Accepted: the agent runs the pending actions at once. Rejected: idle until run again. */
  private resumeAfterConfirmation(c: Conversation, accepted: boolean) {
    const branch = c.branch;
    const wasWaiting = c.status === 'waiting_for_confirmation';
    c.pending = [];
    c.branch = undefined;
    if (branch) c.steps.splice(c.cursor, 0, ...(accepted ? branch.accepted : branch.rejected));
    if (accepted) this.play(c);
    else if (wasWaiting) this.setStatus(c, 'idle');
  }

  // ---- WebSocket ----

  private upgrade(req: IncomingMessage, socket: import('node:stream').Duplex, head: Buffer) {
    const url = new URL(req.url ?? '/', 'http://fake');
    this.requests.push({ method: 'WS', path: url.pathname + url.search, headers: req.headers });
    const m = /^\/sockets\/events\/([^/]+)$/.exec(url.pathname);
    if (!m?.[1]) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const id = m[1];
    const header = req.headers['x-session-api-key'];
    const given =
      (typeof header === 'string' ? header : undefined) ??
      url.searchParams.get('session_api_key') ??
      undefined;
    // A wrong key in header/query is refused before the handshake completes (Starlette answers 403).
    if (this.apiKey && given !== undefined && given !== this.apiKey) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const needsAuthFrame = Boolean(this.apiKey) && given === undefined;
      let authed = !needsAuthFrame;
      const authTimer = needsAuthFrame
        ? setTimeout(() => ws.close(4001, 'Authentication failed'), 10_000)
        : undefined;
      const subscribe = () => {
        const c = this.conversations.get(id);
        if (!c) {
          ws.close(4004, 'Conversation not found');
          return;
        }
        c.sockets.add(ws);
        ws.on('close', () => c.sockets.delete(ws));
        ws.send(JSON.stringify(ohStateUpdate('full_state', this.info(c))));
        if (url.searchParams.get('resend_mode') === 'all') {
          for (const ev of c.events) ws.send(JSON.stringify(ev));
        }
      };
      ws.on('message', (data) => {
        let frame: Json;
        try {
          frame = JSON.parse(data.toString()) as Json;
        } catch {
          return;
        }
        if (frame.type === 'auth') {
          if (authed) return; // redundant auth frame: ignored, like the real server
          clearTimeout(authTimer);
          if (frame.session_api_key !== this.apiKey) {
            ws.close(4001, 'Authentication failed');
            return;
          }
          authed = true;
          subscribe();
          return;
        }
        const c = this.conversations.get(id);
        if (authed && c) {
          this.emit(c, {
            kind: 'MessageEvent',
            source: 'user',
            llm_message: { role: frame.role ?? 'user', content: frame.content ?? [] },
          });
        }
      });
      ws.on('close', () => clearTimeout(authTimer));
      if (authed) subscribe();
    });
  }
}

/** Starts a fake agent-server on 127.0.0.1 (random port); `close()` it after the test. */
export function startFakeOpenHands(opts: { apiKey?: string } = {}): Promise<FakeOpenHandsServer> {
  return FakeOpenHandsServer.start(opts);
}
