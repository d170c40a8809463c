import type Anthropic from '@anthropic-ai/sdk';
import type { MessageCreateParamsStreaming } from '@anthropic-ai/sdk/resources/messages';
import type { ChatModel, ModelTurn, TurnRequest } from '../loop/types.ts';
import { TransientRunnerError } from '../runner.ts';
import { mapClaudeError } from './claude-errors.ts';
import { toAnthropicMessages, toAnthropicTools } from './claude-messages.ts';
import { canThink, openTurn, ThinkingReplay, thinkingBudget } from './claude-thinking.ts';
import { ClaudeTurnAssembler } from './claude-turn-assembler.ts';

export interface ClaudeModelOptions {
  apiKey: string;
  /** Without `/v1`, e.g. `https://api.anthropic.com`. */
  baseURL?: string;
  model: string;
  /** SDK-level retries of 408/409/429/5xx and connection errors; default 2. */
  maxRetries?: number;
  /**
   * A stream that sends nothing for this long is given up as a TransientRunnerError.
   * The SDK's own timeout ends once the response headers arrive, so without this a
   * stalled body would hang the run until it is cancelled. Default 5 minutes.
   */
  streamIdleTimeoutMs?: number;
}

const DEFAULT_BASE_URL = 'https://api.anthropic.com';
const DEFAULT_IDLE_MS = 5 * 60_000;

/** A ChatModel over the Messages streaming API with client tools and extended thinking. */
export function createClaudeModel(opts: ClaudeModelOptions): ChatModel {
  // Explicit, so the SDK never picks ANTHROPIC_BASE_URL up behind the config's back.
  const baseURL = opts.baseURL ?? DEFAULT_BASE_URL;
  // The SDK is a large module: it is loaded on the first turn, so a server that never runs
  // Claude (or a CLI command) does not pay for it at start.
  let client: Anthropic | undefined;
  const model = opts.model;
  const idleMs = opts.streamIdleTimeoutMs ?? DEFAULT_IDLE_MS;
  const replay = new ThinkingReplay();

  async function turn(req: TurnRequest): Promise<ModelTurn> {
    if (req.signal.aborted) throw req.signal.reason;
    const budget = thinkingBudget(req.thinking);
    const thinking = budget !== null && canThink(req.messages, replay);
    // Only the turn in progress is replayed verbatim; earlier turns' thinking is
    // ignored by the API, so those messages are rebuilt from the loop's own record.
    const inTurn = new Set(thinking ? openTurn(req.messages) : []);
    const tools = toAnthropicTools(req.tools);
    const params: MessageCreateParamsStreaming = {
      model,
      messages: toAnthropicMessages(req.messages, (m) => (inTurn.has(m) ? replay.recall(m) : undefined)),
      stream: true,
      // Thinking tokens count toward max_tokens, which must exceed the budget; the
      // answer keeps the room the loop asked for on top of it.
      max_tokens: thinking && budget !== null ? budget + req.maxTokens : req.maxTokens,
      ...(req.system ? { system: req.system } : {}),
      ...(tools.length > 0 ? { tools } : {}),
      ...(thinking && budget !== null ? { thinking: { type: 'enabled', budget_tokens: budget } } : {}),
    };

    const assembler = new ClaudeTurnAssembler(req.onText);
    const idle = new AbortController();
    let idleTimer: NodeJS.Timeout | undefined;
    const armIdle = () => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => idle.abort(), idleMs);
    };
    const signal = AbortSignal.any([req.signal, idle.signal]);
    const sdk = await import('@anthropic-ai/sdk');
    client ??= new sdk.default({ apiKey: opts.apiKey, baseURL, maxRetries: opts.maxRetries ?? 2 });
    try {
      armIdle();
      // The SDK ties `signal` to its fetch, so an abort closes the socket mid-body.
      const stream = await client.messages.create(params, { signal });
      for await (const event of stream) {
        armIdle();
        assembler.add(event);
      }
    } catch (err) {
      if (idle.signal.aborted && !req.signal.aborted) throw idleError(baseURL, idleMs);
      throw mapClaudeError(err, sdk, req.signal, baseURL, opts.apiKey);
    } finally {
      clearTimeout(idleTimer);
    }
    // The SDK ends the iteration quietly when aborted; that is still a cancel.
    if (req.signal.aborted) throw req.signal.reason;
    if (idle.signal.aborted) throw idleError(baseURL, idleMs);
    if (!assembler.finished)
      throw new TransientRunnerError('Anthropic stream ended before the model finished');

    const result = assembler.turn();
    if (thinking) replay.remember(assembler.content(), result.toolCalls);
    return result;
  }

  return { provider: 'claude', model, turn };
}

function idleError(baseURL: string, ms: number): TransientRunnerError {
  const span = ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
  return new TransientRunnerError(`Anthropic API at ${baseURL} sent nothing for ${span}; stream given up`);
}
