import type { ContentBlockParam } from '@anthropic-ai/sdk/resources/messages';
import type { LoopMessage, ThinkingLevel, ToolCall } from '../loop/types.ts';

type AssistantMessage = Extract<LoopMessage, { role: 'assistant' }>;

/** Extended-thinking budgets per CoderClaw level; 1024 is the API's minimum. */
export const THINKING_BUDGET: Record<Exclude<ThinkingLevel, 'off'>, number> = {
  low: 1024,
  medium: 4096,
  high: 16_384,
};

export const thinkingBudget = (level: ThinkingLevel | undefined): number | null =>
  level === undefined || level === 'off' ? null : THINKING_BUDGET[level];

/** Tool-using answers kept for replay; only the turn in progress needs them, so a few suffice. */
const REMEMBERED = 32;

/**
 * With thinking on, the API wants an assistant message that used tools sent back
 * exactly as it came, thinking blocks and signatures first, until its tool-use
 * loop ends. `LoopMessage` has no room for those blocks, so the model keeps the
 * raw content here, keyed by the message's tool call ids.
 */
export class ThinkingReplay {
  readonly #byFirstCall = new Map<string, { ids: string[]; content: ContentBlockParam[] }>();

  /** Keeps an answer that carried thinking and called tools. */
  remember(content: ContentBlockParam[], toolCalls: ToolCall[]): void {
    const first = toolCalls[0];
    if (!first) return;
    if (!content.some((b) => b.type === 'thinking' || b.type === 'redacted_thinking')) return;
    this.#byFirstCall.set(first.id, { ids: toolCalls.map((c) => c.id), content });
    if (this.#byFirstCall.size > REMEMBERED) {
      const oldest = this.#byFirstCall.keys().next().value;
      if (oldest !== undefined) this.#byFirstCall.delete(oldest);
    }
  }

  /** The raw content of this assistant message, if this model produced it with thinking. */
  recall(message: AssistantMessage): ContentBlockParam[] | undefined {
    const first = message.toolCalls[0];
    if (!first) return undefined;
    const entry = this.#byFirstCall.get(first.id);
    if (!entry || entry.ids.length !== message.toolCalls.length) return undefined;
    return entry.ids.every((id, i) => message.toolCalls[i]?.id === id) ? entry.content : undefined;
  }
}

/**
 * The assistant messages of the turn still in progress: those after the last
 * user prompt. Tool results continue a turn, they do not start one.
 */
export function openTurn(messages: LoopMessage[]): AssistantMessage[] {
  let start = 0;
  messages.forEach((message, i) => {
    if (message.role === 'user') start = i + 1;
  });
  return messages.slice(start).filter((m): m is AssistantMessage => m.role === 'assistant');
}

/**
 * Whether this request may enable thinking. A tool-use loop keeps the thinking
 * setting it started with: if its first answer carried no thinking we can send
 * back (thinking was off then, or another model instance produced it), thinking
 * stays off until the next user prompt rather than have the API reject the call.
 */
export function canThink(messages: LoopMessage[], replay: ThinkingReplay): boolean {
  const opening = openTurn(messages)[0];
  if (!opening || opening.toolCalls.length === 0) return true;
  return replay.recall(opening) !== undefined;
}
