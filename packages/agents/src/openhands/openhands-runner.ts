import type { RunOptions } from '@ccl/contracts';
import {
  type AgentRunner,
  type ApprovalDecision,
  type RunInput,
  type RunResult,
  type RunStream,
  TransientRunnerError,
} from '../runner.ts';
import { AgentServerClient, AUTH_REJECTED, HttpStatusError } from './agent-server-client.ts';
import { ALWAYS_CONFIRM, answer, catchUp, confirmPending, type Question, startRun } from './confirmation.ts';
import { type MapperState, OpenHandsEventMapper } from './event-mapper.ts';
import { EventSocket, type SocketItem } from './event-socket.ts';

/** The LLM an inline OpenHands agent uses (the SDK's `LLM` model: model, api_key, base_url, usage_id). */
export interface OpenHandsLlm {
  model: string;
  apiKey?: string;
  baseUrl?: string;
}

export interface OpenHandsRunnerOptions {
  /** Base URL of the agent-server (OPENHANDS_URL), e.g. http://127.0.0.1:8000. */
  url: string;
  /** Its session API key (OPENHANDS_API_KEY), sent as X-Session-API-Key. */
  apiKey?: string;
  /**
   * Which agent runs. The agent-server needs one of: an inline agent (built from
   * `llm`, or `agent` verbatim) or an Agent Profile stored on the server. Per run,
   * `context.openhands.agent_profile_id` and `context.model` override these.
   */
  llm?: OpenHandsLlm;
  agent?: Record<string, unknown>;
  agentProfileId?: string;
  /** How long pause and delete may take when a run is stopped. */
  stopTimeoutMs?: number;
}

/** Tools of the SDK's default coding agent (openhands-tools preset/default.py), minus browser and delegation. */
const DEFAULT_TOOLS = [{ name: 'terminal' }, { name: 'file_editor' }, { name: 'task_tracker' }];
/** Wait this long for the server's first state event (it marks the subscription as live) before starting the run. */
const READY_TIMEOUT_MS = 5_000;
const DEFAULT_STOP_TIMEOUT_MS = 2_000;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** What a run keeps of OpenHands at a confirmation or after an action: its conversation on the agent-server, and our view of it. */
interface OpenHandsCheckpoint {
  v: 1;
  conversation_id: string;
  mapper: MapperState;
}

function openHandsCheckpoint(value: unknown): OpenHandsCheckpoint {
  const c = value as Partial<OpenHandsCheckpoint> | null;
  if (
    c?.v !== 1 ||
    typeof c.conversation_id !== 'string' ||
    !c.conversation_id ||
    !isObject(c.mapper) ||
    !Array.isArray(c.mapper.seen) ||
    !Array.isArray(c.mapper.pending)
  ) {
    throw new Error("the checkpoint to resume from is not one of OpenHands'");
  }
  return c as OpenHandsCheckpoint;
}

const conversationPath = (id: string) => `/api/conversations/${encodeURIComponent(id)}`;

/** Answers whether an agent-server is up at `url` and, if it checks keys, whether it takes `apiKey`. */
export async function probeOpenHands(
  url: string,
  apiKey?: string,
  signal: AbortSignal = AbortSignal.timeout(5_000),
): Promise<{ ok: boolean; reason?: string }> {
  const client = new AgentServerClient(url, apiKey);
  try {
    // /alive needs no key (server_details_router.py).
    await client.request('GET', '/alive', signal, undefined, 5_000);
    // Any /api route checks the key; search is a cheap one.
    await client.request('GET', '/api/conversations/search?limit=1', signal, undefined, 5_000);
    return { ok: true };
  } catch (err) {
    if (err instanceof Error && err.message === AUTH_REJECTED) {
      return { ok: false, reason: apiKey ? AUTH_REJECTED : 'the agent-server requires OPENHANDS_API_KEY' };
    }
    // A server without the search route is still an agent-server that answered /alive.
    if (err instanceof HttpStatusError && err.status === 404) return { ok: true };
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** Runs a task as a conversation on an OpenHands agent-server (the V1 software-agent-sdk server). */
export class OpenHandsRunner implements AgentRunner {
  readonly agentType = 'opendevin';
  /** The conversation goes on on the agent-server: a run resumes only from its latest checkpoint. */
  readonly remoteState = true;

  constructor(private readonly opts: OpenHandsRunnerOptions) {}

  async *run(input: RunInput): RunStream {
    const { signal } = input;
    signal.throwIfAborted();
    const client = new AgentServerClient(this.opts.url, this.opts.apiKey);
    if (input.resume) {
      // Parked at a confirmation, or picked up after its worker died: the same conversation.
      const saved = openHandsCheckpoint(input.resume.checkpoint);
      const mapper = OpenHandsEventMapper.restore(saved.mapper);
      return yield* this.follow(input, client, saved.conversation_id, mapper, {
        decision: input.resume.decision,
      });
    }
    const agentSource = this.agentSource(input.options);
    if (!agentSource) {
      return {
        success: false,
        result: null,
        error:
          "OpenHands needs an agent: give a model (context.model or the runner's llm option; without an API key the agent-server's own provider keys are used) or an agent profile id (context.openhands.agent_profile_id or the agentProfileId option)",
        metadata: { agent: this.agentType },
      };
    }
    // StartConversationRequest (openhands-sdk conversation/request.py). The prompt goes
    // in as the initial message with run=false: the run starts only after our socket
    // is subscribed, so no event is missed.
    // Approval mode (the run's approval, never looser than its project's): the server
    // stops before each action batch and we decide, asking a person when a command is in it.
    const confirm = input.options.approval === 'commands';
    const conversation = await client.request<Record<string, unknown>>('POST', '/api/conversations', signal, {
      ...agentSource,
      workspace: { working_dir: input.workspace.dir },
      initial_message: { role: 'user', content: [{ type: 'text', text: input.prompt }], run: false },
      // The run's turn limit (MAX_TURNS, or less from the project or task).
      max_iterations: input.options.max_turns,
      stuck_detection: true,
      ...(confirm ? { confirmation_policy: ALWAYS_CONFIRM } : {}),
    });
    const id = String(conversation?.id ?? conversation?.conversation_id ?? '');
    if (!id) throw new Error('the OpenHands agent-server created a conversation without an id');
    yield { type: 'status', phase: 'running', message: `OpenHands conversation ${id}` };
    return yield* this.follow(input, client, id, new OpenHandsEventMapper(), undefined);
  }

  /** A parked run ends without going on (cancelled, timed out): its waiting conversation is stopped. */
  async abandon(checkpoint: unknown): Promise<void> {
    const saved = openHandsCheckpoint(checkpoint);
    await this.stopRemote(
      new AgentServerClient(this.opts.url, this.opts.apiKey),
      conversationPath(saved.conversation_id),
    );
  }

  /**
   * Follows conversation `id` over its event socket until it ends: started here, or, for a parked
   * run (`resumed`), answered with the decision first (asked again when there is none).
   */
  private async *follow(
    input: RunInput,
    client: AgentServerClient,
    id: string,
    mapper: OpenHandsEventMapper,
    resumed: { decision: ApprovalDecision | undefined } | undefined,
  ): RunStream {
    const { signal, workspace } = input;
    const path = conversationPath(id);
    const question: Question = {
      asking: false,
      atUsage: false,
      checkpoint: (): OpenHandsCheckpoint => ({ v: 1, conversation_id: id, mapper: mapper.snapshot() }),
    };
    let socket: EventSocket | undefined;
    let wakeOnAbort: () => void = () => {};
    const aborted = new Promise<undefined>((resolve) => {
      wakeOnAbort = () => resolve(undefined);
    });
    signal.addEventListener('abort', wakeOnAbort, { once: true });
    const nextItem = async (timeoutMs?: number): Promise<SocketItem | undefined> => {
      if (!socket) return undefined;
      const racers: Promise<SocketItem | undefined>[] = [socket.next(), aborted];
      let timer: NodeJS.Timeout | undefined;
      if (timeoutMs !== undefined) {
        racers.push(
          new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), timeoutMs);
          }),
        );
      }
      try {
        return await Promise.race(racers);
      } finally {
        clearTimeout(timer);
      }
    };

    try {
      socket = await EventSocket.open(this.opts.url, id, this.opts.apiKey, signal);

      const readyBy = Date.now() + READY_TIMEOUT_MS;
      while (!mapper.sawState && Date.now() < readyBy) {
        const item = await nextItem(readyBy - Date.now());
        if (signal.aborted) throw signal.reason;
        if (!item) break; // an older server that sends no state on subscribe: start anyway
        if (item.kind === 'closed') throw this.socketClosed(item);
        for (const ev of mapper.map(item.event)) yield ev;
      }
      if (!resumed) await startRun(client, path, signal);
      else {
        // What happened while no worker listened (an earlier pickup died) comes out first.
        yield* catchUp(client, path, mapper, signal);
        // Paused where an earlier pickup parked at a budget: approved, it runs again.
        if (mapper.status === 'paused') await startRun(client, path, signal);
        else if (mapper.status !== 'waiting_for_confirmation') {
          // Answered by an earlier pickup, or never asked: follow the conversation on.
        } else if (resumed.decision) await answer(client, path, resumed.decision, signal);
        else yield* confirmPending(client, path, id, mapper, signal, question);
      }

      while (!mapper.terminal) {
        const item = await nextItem();
        if (signal.aborted || !item) throw signal.reason;
        if (item.kind === 'closed') {
          // The server may have finished and dropped the socket; ask before giving up.
          const info = await client
            .request<Record<string, unknown>>('GET', path, signal)
            .catch(() => undefined);
          if (isObject(info)) for (const ev of mapper.applyInfo(info)) yield ev;
          if (!mapper.terminal) throw this.socketClosed(item);
          break;
        }
        let progressed = false;
        for (const ev of mapper.map(item.event)) {
          if (ev.type === 'usage') {
            question.atUsage = true;
            yield { ...ev, checkpoint: question.checkpoint() };
            question.atUsage = false;
          } else yield ev;
          progressed ||= ev.type === 'tool_result' || ev.type === 'usage';
        }
        // An action done, or usage reported: a worker that picks the run up after this one died
        // follows the same conversation from here (catching up on what it missed) instead of
        // starting another, and counts from the usage already recorded, never counting it twice.
        if (progressed && !mapper.terminal) yield { type: 'checkpoint', state: question.checkpoint() };
        if (mapper.takeConfirmationWait()) yield* confirmPending(client, path, id, mapper, signal, question);
      }
    } finally {
      signal.removeEventListener('abort', wakeOnAbort);
      // Stopped early (abort, error, or the consumer gave up): the remote agent must not keep
      // working, and spending, on its own. A run parked at its question is let go, not stopped:
      // the conversation waits for the answer on the agent-server, spending nothing.
      const parked = (question.asking || question.atUsage) && !signal.aborted;
      if (!mapper.terminal && !parked) await this.stopRemote(client, path);
      // Parked at a budget: the agent would go on spending; paused, it waits for the decision.
      else if (!mapper.terminal && question.atUsage) await this.pauseRemote(client, path);
      await socket?.close();
    }

    const diff = await workspace.diff();
    if (diff.unified) yield { type: 'artifact', kind: 'diff', name: 'changes.diff', content: diff.unified };
    const metadata = {
      agent: this.agentType,
      conversation_id: id,
      ...(mapper.model ? { model: mapper.model } : {}),
      turns: mapper.actions,
      input_tokens: mapper.inputTokens,
      output_tokens: mapper.outputTokens,
      cost_usd: Number(mapper.costUsd.toFixed(6)),
      execution_status: mapper.terminal,
      changed_files: diff.files,
      diff: diff.unified,
    };
    return this.result(mapper, metadata);
  }

  private result(mapper: OpenHandsEventMapper, metadata: Record<string, unknown>): RunResult {
    switch (mapper.terminal) {
      case 'finished':
        return {
          success: true,
          result:
            mapper.finishMessage ?? mapper.lastAgentMessage ?? 'OpenHands finished without a final message',
          metadata,
        };
      case 'stuck':
        return {
          success: false,
          result: null,
          error: 'the OpenHands agent got stuck (its stuck detection stopped the run)',
          metadata,
        };
      default:
        return {
          success: false,
          result: null,
          error: `OpenHands conversation failed: ${mapper.lastError ?? 'the agent-server reported status error'}`,
          metadata,
        };
    }
  }

  /** The agent source of the StartConversationRequest: a stored profile or an inline Agent. */
  private agentSource(options: RunOptions): Record<string, unknown> | undefined {
    const profileId = options.openhands?.agent_profile_id ?? this.opts.agentProfileId;
    if (profileId) return { agent_profile_id: profileId };
    const model = options.model || this.opts.llm?.model;
    if (this.opts.agent) {
      const agent = { ...this.opts.agent };
      if (model && isObject(agent.llm)) agent.llm = { ...agent.llm, model };
      return { agent };
    }
    if (!model) return undefined;
    const llm = this.opts.llm;
    return {
      agent: {
        kind: 'Agent',
        llm: {
          model,
          usage_id: 'agent',
          ...(llm?.apiKey ? { api_key: llm.apiKey } : {}),
          ...(llm?.baseUrl ? { base_url: llm.baseUrl } : {}),
        },
        tools: DEFAULT_TOOLS,
      },
    };
  }

  private socketClosed(item: { code: number; reason: string }): Error {
    if (item.code === 4001) return new Error(AUTH_REJECTED);
    if (item.code === 4004) {
      return new Error('the OpenHands conversation no longer exists on the agent-server');
    }
    // A dropped connection (server restart, proxy timeout): the conversation is deleted on the way out, so a retry starts clean.
    return new TransientRunnerError(
      `the OpenHands event socket closed (${item.code}${item.reason ? ` ${item.reason}` : ''}) before the run ended`,
    );
  }

  /** Pause, then delete: pausing stops the agent loop at once, deleting frees the conversation. Best effort. */
  private async stopRemote(client: AgentServerClient, path: string): Promise<void> {
    await this.pauseRemote(client, path);
    const never = new AbortController().signal;
    const timeoutMs = this.opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    await client.request('DELETE', path, never, undefined, timeoutMs).catch(() => {});
  }

  /** Stops the agent loop, keeping the conversation (a later `run` goes on). Best effort. */
  private async pauseRemote(client: AgentServerClient, path: string): Promise<void> {
    const never = new AbortController().signal;
    const timeoutMs = this.opts.stopTimeoutMs ?? DEFAULT_STOP_TIMEOUT_MS;
    await client.request('POST', `${path}/pause`, never, undefined, timeoutMs).catch(() => {});
  }
}
