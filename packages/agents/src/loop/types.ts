/**
 * The provider-neutral shape of one chat-with-tools conversation. Each API runtime
 * (Claude, OpenAI, Ollama) adapts its SDK to `ChatModel`; the tool loop drives it.
 */

/** A tool the model may call; `inputSchema` is a JSON Schema object. */
export interface ToolSpec {
  name: string;
  description: string;
  inputSchema: Record<string, unknown>;
}

export interface ToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface ToolOutcome {
  callId: string;
  name: string;
  output: string;
  isError: boolean;
}

export type LoopMessage =
  | { role: 'user'; text: string }
  | { role: 'assistant'; text: string; toolCalls: ToolCall[] }
  /** The results of the previous assistant message's tool calls, in the same order. */
  | { role: 'tool'; results: ToolOutcome[] };

export interface TurnUsage {
  inputTokens: number;
  outputTokens: number;
}

export interface ModelTurn {
  text: string;
  toolCalls: ToolCall[];
  usage: TurnUsage;
  stopReason: 'end' | 'tool_use' | 'max_tokens' | 'other';
}

export type ThinkingLevel = 'off' | 'low' | 'medium' | 'high';

export interface TurnRequest {
  system: string;
  messages: LoopMessage[];
  tools: ToolSpec[];
  maxTokens: number;
  /** Aborting must close the HTTP stream at once. */
  signal: AbortSignal;
  /** Called with each streamed text delta. */
  onText: (delta: string) => void;
  thinking?: ThinkingLevel;
}

export interface ChatModel {
  readonly provider: 'claude' | 'openai' | 'ollama';
  readonly model: string;
  /** One streamed model call. Throws TransientRunnerError for 429/5xx/timeouts, ProviderAuthError for 401/403. */
  turn(req: TurnRequest): Promise<ModelTurn>;
}

/** The provider refused our credentials: fail at once, naming the variable, never the key. */
export class ProviderAuthError extends Error {
  override name = 'ProviderAuthError';
}
