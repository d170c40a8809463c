/**
 * Builds Messages API payloads the way the Anthropic API shapes them, for the fake
 * server: the named SSE events of a streamed answer and the whole `message` object.
 */

export interface FakeAnthropicToolCall {
  name: string;
  /** An object is sent as JSON; a string is sent verbatim (e.g. to script malformed input). */
  input: Record<string, unknown> | string;
}

export interface FakeAnthropicUsage {
  input: number;
  output: number;
}

export type FakeStopReason =
  | 'end_turn'
  | 'max_tokens'
  | 'stop_sequence'
  | 'tool_use'
  | 'pause_turn'
  | 'refusal'
  | 'model_context_window_exceeded';

export interface MessagePlan {
  id: string;
  model: string;
  text: string;
  /** When set, a thinking block with a signature comes first, as with extended thinking. */
  thinking?: string;
  toolCalls: FakeAnthropicToolCall[];
  stopReason: FakeStopReason;
  usage: FakeAnthropicUsage;
}

export interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

/** Text deltas this many characters long, so clients see several. */
const TEXT_PIECE = 4;
/** A tool's input JSON arrives in this many fragments (fewer if short). */
const JSON_PIECES = 3;

export const toolInputText = (call: FakeAnthropicToolCall) =>
  typeof call.input === 'string' ? call.input : JSON.stringify(call.input);

export const toolUseId = (messageId: string, index: number) => `toolu_${messageId.slice(-8)}_${index}`;

/** An opaque value the fake can recognise when a client sends the thinking block back. */
export const thinkingSignature = (messageId: string) =>
  Buffer.from(`fake-anthropic-signature:${messageId}`).toString('base64');

function split(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

function usageObject(input: number, output: number) {
  return {
    input_tokens: input,
    output_tokens: output,
    cache_creation_input_tokens: 0,
    cache_read_input_tokens: 0,
    cache_creation: null,
    server_tool_use: null,
    service_tier: 'standard',
  };
}

/** The content blocks of the finished message, in the order the stream announces them. */
function contentBlocks(p: MessagePlan): Record<string, unknown>[] {
  const blocks: Record<string, unknown>[] = [];
  if (p.thinking !== undefined) {
    blocks.push({ type: 'thinking', thinking: p.thinking, signature: thinkingSignature(p.id) });
  }
  if (p.text) blocks.push({ type: 'text', text: p.text, citations: null });
  p.toolCalls.forEach((call, index) => {
    const raw = toolInputText(call);
    let input: unknown = raw;
    try {
      input = JSON.parse(raw);
    } catch {
      // A scripted malformed input stays a string; only streaming clients see it as JSON text.
    }
    blocks.push({
      type: 'tool_use',
      id: toolUseId(p.id, index),
      name: call.name,
      input,
      caller: { type: 'direct' },
    });
  });
  return blocks;
}

/** Every event of one streamed answer, `message_start` through `message_stop`. */
export function streamEvents(p: MessagePlan): SseEvent[] {
  const events: SseEvent[] = [];
  const add = (event: string, data: Record<string, unknown>) =>
    events.push({ event, data: { type: event, ...data } });

  add('message_start', {
    message: {
      id: p.id,
      type: 'message',
      role: 'assistant',
      model: p.model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      // The API reports the whole input up front and a token or so of output.
      usage: usageObject(p.usage.input, Math.min(1, p.usage.output)),
    },
  });
  let index = 0;
  if (p.thinking !== undefined) {
    add('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
    for (const piece of split(p.thinking, TEXT_PIECE)) {
      add('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: piece } });
    }
    add('content_block_delta', {
      index,
      delta: { type: 'signature_delta', signature: thinkingSignature(p.id) },
    });
    add('content_block_stop', { index });
    index += 1;
  }
  if (p.text) {
    add('content_block_start', { index, content_block: { type: 'text', text: '', citations: null } });
    // The real API sends a ping early in the stream; clients must skip it.
    events.push({ event: 'ping', data: { type: 'ping' } });
    for (const piece of split(p.text, TEXT_PIECE)) {
      add('content_block_delta', { index, delta: { type: 'text_delta', text: piece } });
    }
    add('content_block_stop', { index });
    index += 1;
  }
  p.toolCalls.forEach((call, n) => {
    add('content_block_start', {
      index,
      content_block: {
        type: 'tool_use',
        id: toolUseId(p.id, n),
        name: call.name,
        input: {},
        caller: { type: 'direct' },
      },
    });
    // The API opens every tool input with an empty fragment before the JSON text.
    add('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: '' } });
    const json = toolInputText(call);
    for (const piece of split(json, Math.max(1, Math.ceil(json.length / JSON_PIECES)))) {
      add('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: piece } });
    }
    add('content_block_stop', { index });
    index += 1;
  });
  add('message_delta', {
    delta: { stop_reason: p.stopReason, stop_sequence: null, stop_details: null, container: null },
    // Cumulative counts: the final output total, and the input again.
    usage: {
      input_tokens: p.usage.input,
      output_tokens: p.usage.output,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
      server_tool_use: null,
    },
  });
  add('message_stop', {});
  return events;
}

/** The `message` object a non-streaming request gets. */
export function wholeMessage(p: MessagePlan): Record<string, unknown> {
  return {
    id: p.id,
    type: 'message',
    role: 'assistant',
    model: p.model,
    content: contentBlocks(p),
    stop_reason: p.stopReason,
    stop_sequence: null,
    container: null,
    usage: usageObject(p.usage.input, p.usage.output),
  };
}

/** The error `type` the API uses for a status. */
export function errorType(status: number): string {
  if (status === 400) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 402) return 'billing_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 504) return 'timeout_error';
  if (status === 529) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

const DEFAULT_MESSAGES: Record<string, string> = {
  authentication_error: 'invalid x-api-key',
  permission_error: 'Your API key does not have permission to use the specified resource.',
  rate_limit_error: 'Number of request tokens has exceeded your per-minute rate limit.',
  overloaded_error: 'Overloaded',
  api_error: 'Internal server error',
  timeout_error: 'Request timed out',
};

/** An error body in the API's envelope. */
export function errorBody(status: number, message?: string): Record<string, unknown> {
  const type = errorType(status);
  return {
    type: 'error',
    error: { type, message: message ?? DEFAULT_MESSAGES[type] ?? `fake-anthropic: HTTP ${status}` },
    request_id: `req_fake_${Date.now()}`,
  };
}
