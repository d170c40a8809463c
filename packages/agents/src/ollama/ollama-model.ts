import type { ChatResponse, ToolCall as OllamaToolCall } from 'ollama';
import { parseToolArguments } from '../loop/tool-arguments.ts';
import type { ChatModel, ModelTurn, ToolCall, TurnRequest } from '../loop/types.ts';
import { displayHost, ollamaClient } from './ollama-client.ts';
import { mapOllamaError } from './ollama-errors.ts';
import { toOllamaMessages, toOllamaTools } from './ollama-messages.ts';

export { listOllamaModels } from './list-ollama-models.ts';

export interface OllamaModelOptions {
  /** e.g. `http://127.0.0.1:11434` (OLLAMA_HOST). */
  host: string;
  model: string;
  /**
   * `num_ctx` for the call. Ollama's default window is small and it silently drops
   * the start of longer conversations; a larger one costs memory (and a model reload).
   */
  contextWindow?: number;
}

/**
 * Ollama tool calls have no ids. The conversation length and the call's position
 * make one that is unique within a run and the same if the turn is retried.
 * Newer servers do send an id, which is kept.
 */
function toToolCall(call: OllamaToolCall, turnIndex: number, index: number): ToolCall {
  const id = (call as { id?: unknown }).id;
  const args: unknown = call.function.arguments;
  return {
    id: typeof id === 'string' && id ? id : `call_${turnIndex}_${index}`,
    name: call.function.name,
    // Some Ollama-compatible servers send the arguments as a JSON string.
    input:
      typeof args === 'string'
        ? parseToolArguments(args)
        : args !== null && typeof args === 'object' && !Array.isArray(args)
          ? (args as Record<string, unknown>)
          : parseToolArguments(JSON.stringify(args ?? null)),
  };
}

/**
 * A ChatModel over Ollama's `/api/chat` NDJSON stream. `thinking` is not sent:
 * Ollama answers 400 to `think` for models without thinking support.
 */
export function createOllamaModel(opts: OllamaModelOptions): ChatModel {
  const host = displayHost(opts.host);
  const model = opts.model;

  async function turn(req: TurnRequest): Promise<ModelTurn> {
    if (req.signal.aborted) throw req.signal.reason;
    const client = ollamaClient(host, req.signal);
    const tools = toOllamaTools(req.tools);
    let text = '';
    const ollamaCalls: OllamaToolCall[] = [];
    let final: ChatResponse | undefined;
    let stopIterator: (() => void) | undefined;
    try {
      const stream = await client.chat({
        model,
        messages: toOllamaMessages(req.system, req.messages),
        ...(tools.length > 0 ? { tools } : {}),
        stream: true,
        options: {
          num_predict: req.maxTokens,
          ...(opts.contextWindow ? { num_ctx: opts.contextWindow } : {}),
        },
      });
      // The client's fetch already follows the signal; aborting the iterator too is
      // the package's own way and also drops it from the client's bookkeeping.
      stopIterator = () => stream.abort();
      req.signal.addEventListener('abort', stopIterator, { once: true });
      for await (const part of stream) {
        const delta = part.message?.content;
        if (delta) {
          text += delta;
          req.onText(delta);
        }
        // Tool calls come whole, in one or more messages before `done`.
        if (part.message?.tool_calls) ollamaCalls.push(...part.message.tool_calls);
        if (part.done) final = part;
      }
    } catch (err) {
      throw mapOllamaError(err, req.signal, host, model);
    } finally {
      if (stopIterator) req.signal.removeEventListener('abort', stopIterator);
    }
    if (req.signal.aborted) throw req.signal.reason;
    // The package throws when the stream ends without `done`, so `final` is set here.
    const toolCalls = ollamaCalls.map((call, index) => toToolCall(call, req.messages.length, index));
    const stopReason: ModelTurn['stopReason'] =
      toolCalls.length > 0
        ? 'tool_use'
        : final?.done_reason === 'length'
          ? 'max_tokens'
          : final?.done_reason === 'stop'
            ? 'end'
            : 'other';
    return {
      text,
      toolCalls,
      // prompt_eval_count is left out when the whole prompt came from Ollama's cache.
      usage: { inputTokens: final?.prompt_eval_count ?? 0, outputTokens: final?.eval_count ?? 0 },
      stopReason,
    };
  }

  return { provider: 'ollama', model, turn };
}
