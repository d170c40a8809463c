import type OpenAI from 'openai';
import type { ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import type { ReasoningEffort } from 'openai/resources/shared';
import type { ChatModel, ModelTurn, ThinkingLevel, TurnRequest } from '../loop/types.ts';
import { TransientRunnerError } from '../runner.ts';
import { mapOpenAIError } from './openai-errors.ts';
import { toChatMessages, toChatTools } from './openai-messages.ts';
import { ToolCallAssembler } from './tool-call-assembler.ts';

export interface OpenAIModelOptions {
  apiKey: string;
  /** Including `/v1`, e.g. `https://api.openai.com/v1`; any OpenAI-compatible server works. */
  baseURL?: string;
  model: string;
  /** SDK-level retries of 408/409/429/5xx and connection errors; default 2. */
  maxRetries?: number;
}

const DEFAULT_BASE_URL = 'https://api.openai.com/v1';

/**
 * Reasoning models (o1/o3/o4…, gpt-5…) take `reasoning_effort` and
 * `max_completion_tokens`. The pattern is tighter than "starts with o" so models
 * such as `openhermes` on a compatible server do not get parameters they reject.
 */
export const isReasoningModel = (model: string) => /^(o\d|gpt-5)/.test(model);

/** `off` becomes `low`, the smallest effort every reasoning model accepts. */
const EFFORT: Record<ThinkingLevel, ReasoningEffort> = {
  off: 'low',
  low: 'low',
  medium: 'medium',
  high: 'high',
};

const STOP: Record<string, ModelTurn['stopReason']> = {
  stop: 'end',
  tool_calls: 'tool_use',
  function_call: 'tool_use',
  length: 'max_tokens',
};

/** `work`, or a rejection with the signal's reason as soon as it aborts, whichever comes first. */
function settleOnAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const settle = () => signal.removeEventListener('abort', onAbort);
    work.then(
      (value) => {
        settle();
        resolve(value);
      },
      (err) => {
        settle();
        reject(err);
      },
    );
  });
}

/** A ChatModel over the chat-completions streaming API with function tools. */
export function createOpenAIModel(opts: OpenAIModelOptions): ChatModel {
  const baseURL = opts.baseURL ?? DEFAULT_BASE_URL;
  // The SDK is loaded on the first turn (see createClaudeModel).
  let client: OpenAI | undefined;
  const model = opts.model;
  const reasoning = isReasoningModel(model);

  async function streamTurn(req: TurnRequest): Promise<ModelTurn> {
    const tools = toChatTools(req.tools);
    const params: ChatCompletionCreateParamsStreaming = {
      model,
      messages: toChatMessages(req.system, req.messages),
      stream: true,
      stream_options: { include_usage: true },
      // An empty `tools` array is rejected by the API, so it is left out.
      ...(tools.length > 0 ? { tools } : {}),
      // Reasoning models refuse `max_tokens`; older compatible servers only know it.
      ...(reasoning ? { max_completion_tokens: req.maxTokens } : { max_tokens: req.maxTokens }),
      ...(reasoning && req.thinking ? { reasoning_effort: EFFORT[req.thinking] } : {}),
    };

    let text = '';
    let finishReason: string | null = null;
    const usage = { inputTokens: 0, outputTokens: 0 };
    const calls = new ToolCallAssembler();
    const sdk = await import('openai');
    client ??= new sdk.default({ apiKey: opts.apiKey, baseURL, maxRetries: opts.maxRetries ?? 2 });
    try {
      // The SDK ties `signal` to its fetch, so an abort closes the socket mid-body. It also adds an
      // abort listener to the signal it is given and never takes it off: given the run's own
      // signal, a run of 200 turns kept 200 listeners (and their requests' controllers). A signal
      // of this turn's own, following the run's, goes with the turn.
      const turnSignal = AbortSignal.any([req.signal]);
      const stream = await client.chat.completions.create(params, { signal: turnSignal });
      for await (const chunk of stream) {
        // With include_usage the last chunk has no choices, only the usage of the whole call.
        if (chunk.usage) {
          usage.inputTokens = chunk.usage.prompt_tokens;
          usage.outputTokens = chunk.usage.completion_tokens;
        }
        for (const choice of chunk.choices) {
          if (choice.index !== 0) continue;
          const delta = choice.delta;
          if (delta.content) {
            text += delta.content;
            req.onText(delta.content);
          }
          for (const call of delta.tool_calls ?? []) calls.add(call);
          if (choice.finish_reason) finishReason = choice.finish_reason;
        }
      }
    } catch (err) {
      throw mapOpenAIError(err, sdk, req.signal, baseURL);
    }
    // The SDK ends the iteration quietly when aborted; that is still a cancel.
    if (req.signal.aborted) throw req.signal.reason;
    if (finishReason === null)
      throw new TransientRunnerError('OpenAI stream ended before the model finished');

    const toolCalls = calls.finish();
    let stopReason = STOP[finishReason] ?? 'other';
    // Some compatible servers say `stop` even when the message carries tool calls.
    if (toolCalls.length > 0 && stopReason === 'end') stopReason = 'tool_use';
    return { text, toolCalls, usage, stopReason };
  }

  return {
    provider: 'openai',
    model,
    // The SDK's backoff between retries does not watch the signal (a Retry-After can
    // hold it for a minute), so the turn settles on abort itself; the SDK checks
    // the signal again before its next attempt and sends nothing more.
    turn: (req) =>
      req.signal.aborted ? Promise.reject(req.signal.reason) : settleOnAbort(streamTurn(req), req.signal),
  };
}
