import { randomUUID } from 'node:crypto';

/*
 * Builders for agent-server events in the shapes the OpenHands SDK serializes
 * them (OpenHands/software-agent-sdk, openhands-sdk/openhands/sdk/event/:
 * llm_convertible/message.py, action.py, observation.py, conversation_error.py,
 * conversation_state.py; metrics per sdk/llm/utils/metrics.py). Every event has
 * kind (class name), id, timestamp and source.
 */

type Json = Record<string, unknown>;

function base(kind: string, source: 'agent' | 'user' | 'environment'): Json {
  return { kind, id: randomUUID(), timestamp: new Date().toISOString(), source };
}

export function ohAgentMessage(text: string): Json {
  return {
    ...base('MessageEvent', 'agent'),
    llm_message: { role: 'assistant', content: [{ type: 'text', text }], tool_calls: null },
    llm_response_id: randomUUID(),
    activated_skills: [],
    extended_content: [],
    sender: null,
  };
}

export function ohUserMessage(text: string): Json {
  return {
    ...base('MessageEvent', 'user'),
    llm_message: { role: 'user', content: [{ type: 'text', text }] },
    activated_skills: [],
    extended_content: [],
  };
}

/** An ActionEvent: the LLM called `toolName`; `action` is the parsed Action ({kind, …fields}). */
export function ohAction(opts: {
  toolName: string;
  action: Json;
  toolCallId?: string;
  thought?: string;
}): Json {
  const toolCallId = opts.toolCallId ?? `toolu_${randomUUID().slice(0, 8)}`;
  const { kind: _kind, ...args } = opts.action;
  return {
    ...base('ActionEvent', 'agent'),
    thought: opts.thought ? [{ type: 'text', text: opts.thought }] : [],
    action: opts.action,
    tool_name: opts.toolName,
    tool_call_id: toolCallId,
    tool_call: { id: toolCallId, name: opts.toolName, arguments: JSON.stringify(args), origin: 'completion' },
    llm_response_id: randomUUID(),
    security_risk: 'UNKNOWN',
  };
}

/** The ObservationEvent answering `action` (an ActionEvent built by ohAction). */
export function ohObservation(
  action: Json,
  text: string,
  opts: { isError?: boolean; kind?: string } = {},
): Json {
  return {
    ...base('ObservationEvent', 'environment'),
    observation: {
      kind: opts.kind ?? 'TerminalObservation',
      content: [{ type: 'text', text }],
      is_error: opts.isError ?? false,
    },
    action_id: action.id,
    tool_name: action.tool_name,
    tool_call_id: action.tool_call_id,
  };
}

/** The agent's closing call to the `finish` tool. */
export function ohFinish(message: string): Json {
  return ohAction({ toolName: 'finish', action: { kind: 'FinishAction', message } });
}

export function ohAgentError(action: Json, error: string): Json {
  return {
    ...base('AgentErrorEvent', 'agent'),
    error,
    tool_name: action.tool_name,
    tool_call_id: action.tool_call_id,
  };
}

export function ohConversationError(code: string, detail: string): Json {
  return { ...base('ConversationErrorEvent', 'environment'), code, detail };
}

export function ohStateUpdate(key: string, value: unknown): Json {
  return { ...base('ConversationStateUpdateEvent', 'environment'), key, value };
}

export function ohStatus(status: string): Json {
  return ohStateUpdate('execution_status', status);
}

/** ConversationStats after LLM calls: cumulative tokens and cost of the "agent" LLM. */
export function ohStats(usage: {
  model?: string;
  promptTokens: number;
  completionTokens: number;
  costUsd?: number;
}): Json {
  const model = usage.model ?? 'fake-model';
  return ohStateUpdate('stats', {
    usage_to_metrics: {
      agent: {
        model_name: model,
        accumulated_cost: usage.costUsd ?? 0,
        max_budget_per_task: null,
        accumulated_token_usage: {
          model,
          prompt_tokens: usage.promptTokens,
          completion_tokens: usage.completionTokens,
          cache_read_tokens: 0,
          cache_write_tokens: 0,
          reasoning_tokens: 0,
          context_window: 0,
          per_turn_token: 0,
          response_id: '',
        },
      },
    },
  });
}
