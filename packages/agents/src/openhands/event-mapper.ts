import type { AgentEvent } from '../runner.ts';

/*
 * Events of the agent-server's event socket, as the OpenHands SDK serializes
 * them (OpenHands/software-agent-sdk, openhands-sdk/openhands/sdk/event/):
 * pydantic models discriminated by "kind" (the class name), each with id,
 * timestamp and source ("agent" | "user" | "environment").
 * - MessageEvent {llm_message: {role, content: [{type: "text", text}]}}
 * - ActionEvent {thought: [TextContent], action: {kind, …}, tool_name, tool_call_id,
 *   tool_call: {id, name, arguments: "<json>"}}; the agent ends with tool "finish",
 *   action {kind: "FinishAction", message}
 * - ObservationEvent {observation: {kind, content: [TextContent], is_error}, tool_name,
 *   tool_call_id}; AgentErrorEvent {error, tool_call_id}; UserRejectObservation {rejection_reason}
 * - ConversationErrorEvent {code, detail}; the server's own ServerErrorEvent {code, detail}
 * - ConversationStateUpdateEvent {key, value}: key "execution_status" (idle, running,
 *   paused, waiting_for_confirmation, finished, error, stuck), key "stats" (ConversationStats:
 *   {usage_to_metrics: {<usage id>: {model_name, accumulated_cost,
 *   accumulated_token_usage: {prompt_tokens, completion_tokens, …}}}}, cumulative), or key
 *   "full_state" with the whole ConversationState (sent when a socket subscribes).
 * Terminal statuses are finished, error and stuck (ConversationExecutionStatus.is_terminal).
 */

type Json = Record<string, unknown>;

/** An ActionEvent that has no observation, rejection or error yet: what a confirmation decides on. */
export interface PendingAction {
  /** The ActionEvent's own id. */
  eventId: string;
  toolCallId: string;
  tool: string;
  input: Record<string, unknown>;
}

export type TerminalStatus = 'finished' | 'error' | 'stuck';
const TERMINAL = new Set(['finished', 'error', 'stuck']);
const MAX_TOOL_OUTPUT_CHARS = 100_000;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

function text(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  return content
    .filter(isObject)
    .map((c) => (typeof c.text === 'string' ? c.text : c.type === 'image' ? '[image]' : ''))
    .filter(Boolean)
    .join('\n');
}

function capped(s: string): string {
  return s.length > MAX_TOOL_OUTPUT_CHARS
    ? `${s.slice(0, MAX_TOOL_OUTPUT_CHARS)}\n… [${s.length - MAX_TOOL_OUTPUT_CHARS} more characters]`
    : s;
}

/** The arguments of an action: the action's own fields, else the LLM's raw tool-call arguments. */
function actionInput(ev: Json): Record<string, unknown> {
  if (isObject(ev.action)) {
    const { kind: _kind, ...fields } = ev.action;
    return fields;
  }
  const call = isObject(ev.tool_call) ? ev.tool_call : {};
  if (typeof call.arguments === 'string') {
    try {
      const parsed: unknown = JSON.parse(call.arguments);
      if (isObject(parsed)) return parsed;
    } catch {
      return { arguments: call.arguments };
    }
  }
  return isObject(call.arguments) ? call.arguments : {};
}

export function isTerminalStatus(status: unknown): status is TerminalStatus {
  return typeof status === 'string' && TERMINAL.has(status);
}

/** What a parked run keeps of the mapper (plain JSON), to go on with the same conversation later. */
export interface MapperState {
  status?: string;
  actions: number;
  finishMessage?: string;
  lastAgentMessage?: string;
  lastError?: string;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  model?: string;
  seen: string[];
  pending: PendingAction[];
}

/** Turns agent-server events into ours and keeps what the run's result needs. */
export class OpenHandsEventMapper {
  status: string | undefined;
  /** Set by the first ConversationStateUpdateEvent, which the server sends on subscribe. */
  sawState = false;
  actions = 0;
  finishMessage: string | undefined;
  lastAgentMessage: string | undefined;
  lastError: string | undefined;
  inputTokens = 0;
  outputTokens = 0;
  costUsd = 0;
  model: string | undefined;
  private readonly seen = new Set<string>();
  /** Unanswered actions by ActionEvent id, in the order the agent made them. */
  private readonly pending = new Map<string, PendingAction>();
  /** Set when the status turns waiting_for_confirmation; cleared by takeConfirmationWait(). */
  private confirmationWait = false;

  /** The mapper of a parked run, as `snapshot` left it. */
  static restore(state: MapperState): OpenHandsEventMapper {
    const mapper = new OpenHandsEventMapper();
    mapper.status = state.status;
    mapper.actions = state.actions;
    mapper.finishMessage = state.finishMessage;
    mapper.lastAgentMessage = state.lastAgentMessage;
    mapper.lastError = state.lastError;
    mapper.inputTokens = state.inputTokens;
    mapper.outputTokens = state.outputTokens;
    mapper.costUsd = state.costUsd;
    mapper.model = state.model;
    for (const id of state.seen) mapper.seen.add(id);
    for (const action of state.pending) mapper.pending.set(action.eventId, action);
    return mapper;
  }

  snapshot(): MapperState {
    return {
      ...(this.status !== undefined ? { status: this.status } : {}),
      actions: this.actions,
      ...(this.finishMessage !== undefined ? { finishMessage: this.finishMessage } : {}),
      ...(this.lastAgentMessage !== undefined ? { lastAgentMessage: this.lastAgentMessage } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
      inputTokens: this.inputTokens,
      outputTokens: this.outputTokens,
      costUsd: this.costUsd,
      ...(this.model !== undefined ? { model: this.model } : {}),
      seen: [...this.seen],
      pending: this.pendingActions(),
    };
  }

  get terminal(): TerminalStatus | undefined {
    return isTerminalStatus(this.status) ? this.status : undefined;
  }

  /** True once per entry into waiting_for_confirmation. */
  takeConfirmationWait(): boolean {
    const wait = this.confirmationWait;
    this.confirmationWait = false;
    return wait;
  }

  /** True when an event with this id was mapped already (this pickup, or before its checkpoint). */
  hasSeen(id: unknown): boolean {
    return typeof id === 'string' && this.seen.has(id);
  }

  pendingActions(): PendingAction[] {
    return [...this.pending.values()];
  }

  map(ev: Json): AgentEvent[] {
    // Resent history and live events can overlap; every event has a unique id.
    if (typeof ev.id === 'string') {
      if (this.seen.has(ev.id)) return [];
      this.seen.add(ev.id);
    }
    if (ev.kind !== 'ActionEvent') this.answered(ev);
    switch (ev.kind) {
      case 'MessageEvent':
        return this.message(ev);
      case 'ActionEvent':
        return this.action(ev);
      case 'ObservationEvent': {
        const obs = isObject(ev.observation) ? ev.observation : {};
        const out = text(obs.content) || (typeof obs.text === 'string' ? obs.text : JSON.stringify(obs));
        return [
          {
            type: 'tool_result',
            id: String(ev.tool_call_id ?? ''),
            output: capped(out),
            ...(obs.is_error === true ? { isError: true } : {}),
          },
        ];
      }
      case 'AgentErrorEvent':
        return [
          {
            type: 'tool_result',
            id: String(ev.tool_call_id ?? ''),
            output: String(ev.error ?? 'agent error'),
            isError: true,
          },
        ];
      case 'UserRejectObservation':
        return [
          {
            type: 'tool_result',
            id: String(ev.tool_call_id ?? ''),
            output: `rejected: ${String(ev.rejection_reason ?? '')}`,
            isError: true,
          },
        ];
      case 'ConversationErrorEvent':
      case 'ServerErrorEvent': {
        const message =
          [ev.code, ev.detail].filter((p) => typeof p === 'string' && p).join(': ') || 'OpenHands error';
        this.lastError = message;
        return [{ type: 'error', message }];
      }
      case 'ConversationStateUpdateEvent':
        return this.stateUpdate(ev);
      default:
        // SystemPromptEvent, PauseEvent, Condensation, streaming deltas (the final
        // MessageEvent repeats their text) …: nothing for us.
        return [];
    }
  }

  /** Applies a ConversationInfo from GET /api/conversations/{id} (when the socket is gone). */
  applyInfo(info: Json): AgentEvent[] {
    if (typeof info.execution_status === 'string') this.setStatus(info.execution_status);
    return this.stats(info.stats);
  }

  private setStatus(status: string) {
    if (status === 'waiting_for_confirmation' && this.status !== status) this.confirmationWait = true;
    this.status = status;
  }

  /** An observation, rejection or error answers the action it names (by action id, else tool call id). */
  private answered(ev: Json) {
    if (typeof ev.action_id === 'string' && this.pending.delete(ev.action_id)) return;
    if (typeof ev.tool_call_id !== 'string') return;
    for (const [id, action] of this.pending) {
      if (action.toolCallId === ev.tool_call_id) {
        this.pending.delete(id);
        return;
      }
    }
  }

  private message(ev: Json): AgentEvent[] {
    if (ev.source !== 'agent') return []; // the user's own prompt, echoed back
    const msg = isObject(ev.llm_message) ? ev.llm_message : {};
    const t = text(msg.content);
    if (!t) return [];
    this.lastAgentMessage = t;
    return [{ type: 'message', text: t }];
  }

  private action(ev: Json): AgentEvent[] {
    const out: AgentEvent[] = [];
    const thought = text(ev.thought);
    if (thought) out.push({ type: 'message', text: thought });
    this.actions++;
    const name = String(
      ev.tool_name ?? (isObject(ev.tool_call) ? ev.tool_call.name : undefined) ?? 'unknown',
    );
    const input = actionInput(ev);
    if (name === 'finish' && typeof input.message === 'string') this.finishMessage = input.message;
    const toolCallId = String(ev.tool_call_id ?? ev.id ?? `action-${this.actions}`);
    if (typeof ev.id === 'string') this.pending.set(ev.id, { eventId: ev.id, toolCallId, tool: name, input });
    out.push({ type: 'tool_call', id: toolCallId, name, input });
    return out;
  }

  private stateUpdate(ev: Json): AgentEvent[] {
    this.sawState = true;
    if (ev.key === 'execution_status' && typeof ev.value === 'string') {
      this.setStatus(ev.value);
      return [];
    }
    if (ev.key === 'stats') return this.stats(ev.value);
    if (ev.key === 'full_state' && isObject(ev.value)) return this.applyInfo(ev.value);
    return [];
  }

  /** Stats are cumulative per LLM usage id; we report what was added since the last update. */
  private stats(value: unknown): AgentEvent[] {
    if (!isObject(value) || !isObject(value.usage_to_metrics)) return [];
    let input = 0;
    let output = 0;
    let cost = 0;
    for (const metrics of Object.values(value.usage_to_metrics)) {
      if (!isObject(metrics)) continue;
      cost += num(metrics.accumulated_cost);
      const usage = isObject(metrics.accumulated_token_usage) ? metrics.accumulated_token_usage : {};
      input += num(usage.prompt_tokens);
      output += num(usage.completion_tokens);
      if (!this.model && typeof metrics.model_name === 'string' && metrics.model_name !== 'default') {
        this.model = metrics.model_name;
      }
    }
    const dIn = Math.max(0, input - this.inputTokens);
    const dOut = Math.max(0, output - this.outputTokens);
    const dCost = Math.max(0, cost - this.costUsd);
    this.inputTokens = Math.max(this.inputTokens, input);
    this.outputTokens = Math.max(this.outputTokens, output);
    this.costUsd = Math.max(this.costUsd, cost);
    if (!dIn && !dOut && !dCost) return [];
    return [
      {
        type: 'usage',
        inputTokens: dIn,
        outputTokens: dOut,
        costUsd: Number(dCost.toFixed(8)),
        ...(this.model ? { model: this.model } : {}),
      },
    ];
  }
}
