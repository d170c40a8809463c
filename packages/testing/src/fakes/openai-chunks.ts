/**
 * Builds chat-completions payloads the way the OpenAI API shapes them, for the
 * fake server: streamed `chat.completion.chunk` objects and whole `chat.completion`s.
 */

export interface FakeOpenAIToolCall {
  name: string;
  /** An object is sent as JSON; a string is sent verbatim (e.g. to script malformed arguments). */
  input: Record<string, unknown> | string;
}

export interface FakeOpenAIUsage {
  input: number;
  output: number;
}

export type FakeFinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

export interface ChunkPlanInput {
  id: string;
  model: string;
  text: string;
  toolCalls: FakeOpenAIToolCall[];
  finishReason: FakeFinishReason;
  usage: FakeOpenAIUsage;
  includeUsage: boolean;
}

/** Content deltas this many characters long, so clients see several. */
const TEXT_PIECE = 4;
/** Arguments of each tool call arrive in this many fragments (fewer if short). */
const ARG_PIECES = 3;

export const argumentsText = (call: FakeOpenAIToolCall) =>
  typeof call.input === 'string' ? call.input : JSON.stringify(call.input);

export const toolCallId = (responseId: string, index: number) => `call_${responseId.slice(-8)}_${index}`;

function split(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < text.length; i += size) pieces.push(text.slice(i, i + size));
  return pieces;
}

function usageObject(usage: FakeOpenAIUsage) {
  return {
    prompt_tokens: usage.input,
    completion_tokens: usage.output,
    total_tokens: usage.input + usage.output,
    prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
    completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0 },
  };
}

/** Every chunk of one streamed answer, in order, without the closing `[DONE]`. */
export function streamChunks(p: ChunkPlanInput): object[] {
  const created = Math.floor(Date.now() / 1000);
  const chunk = (delta: object, finishReason: FakeFinishReason | null = null) => ({
    id: p.id,
    object: 'chat.completion.chunk',
    created,
    model: p.model,
    system_fingerprint: 'fp_fake',
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    // With include_usage every chunk carries `usage: null` until the last one.
    ...(p.includeUsage ? { usage: null } : {}),
  });
  const chunks: object[] = [chunk({ role: 'assistant', content: '', refusal: null })];
  for (const piece of split(p.text, TEXT_PIECE)) chunks.push(chunk({ content: piece }));
  p.toolCalls.forEach((call, index) => {
    // The first delta of a call names it; its arguments follow in fragments.
    chunks.push(
      chunk({
        tool_calls: [
          {
            index,
            id: toolCallId(p.id, index),
            type: 'function',
            function: { name: call.name, arguments: '' },
          },
        ],
      }),
    );
    const args = argumentsText(call);
    for (const piece of split(args, Math.max(1, Math.ceil(args.length / ARG_PIECES)))) {
      chunks.push(chunk({ tool_calls: [{ index, function: { arguments: piece } }] }));
    }
  });
  chunks.push(chunk({}, p.finishReason));
  if (p.includeUsage) {
    chunks.push({
      id: p.id,
      object: 'chat.completion.chunk',
      created,
      model: p.model,
      system_fingerprint: 'fp_fake',
      choices: [],
      usage: usageObject(p.usage),
    });
  }
  return chunks;
}

/** The non-streamed answer (`stream: false`). */
export function completion(p: Omit<ChunkPlanInput, 'includeUsage'>): object {
  return {
    id: p.id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: p.model,
    system_fingerprint: 'fp_fake',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: p.text || null,
          refusal: null,
          ...(p.toolCalls.length > 0
            ? {
                tool_calls: p.toolCalls.map((call, index) => ({
                  id: toolCallId(p.id, index),
                  type: 'function',
                  function: { name: call.name, arguments: argumentsText(call) },
                })),
              }
            : {}),
        },
        logprobs: null,
        finish_reason: p.finishReason,
      },
    ],
    usage: usageObject(p.usage),
  };
}

/** The API's error body for a status, as the SDK parses it into `APIError`. */
export function errorBody(status: number): object {
  const [type, code, message] =
    status === 401
      ? ['invalid_request_error', 'invalid_api_key', 'Incorrect API key provided.']
      : status === 403
        ? [
            'invalid_request_error',
            'unsupported_country_region_territory',
            'Country, region, or territory not supported',
          ]
        : status === 404
          ? [
              'invalid_request_error',
              'model_not_found',
              'The model does not exist or you do not have access to it.',
            ]
          : status === 429
            ? ['requests', 'rate_limit_exceeded', 'Rate limit reached for requests']
            : status >= 500
              ? [
                  'server_error',
                  null,
                  'The server had an error while processing your request. Sorry about that!',
                ]
              : ['invalid_request_error', null, `Bad request (HTTP ${status})`];
  return { error: { message, type, param: null, code } };
}
