import type {
  ContentBlockParam,
  RawMessageStreamEvent,
  StopReason,
} from '@anthropic-ai/sdk/resources/messages';
import { parseToolArguments } from '../loop/tool-arguments.ts';
import type { ModelTurn, ToolCall, TurnUsage } from '../loop/types.ts';

type Block =
  | { kind: 'text'; text: string }
  | { kind: 'tool_use'; id: string; name: string; json: string; input?: Record<string, unknown> }
  | { kind: 'thinking'; thinking: string; signature: string }
  | { kind: 'redacted_thinking'; data: string }
  /** Server-side tool blocks and anything newer than this code: kept out of the turn. */
  | { kind: 'other' };

const STOP: Partial<Record<StopReason, ModelTurn['stopReason']>> = {
  end_turn: 'end',
  // We send no stop sequences, but a proxy might; either way the model finished normally.
  stop_sequence: 'end',
  tool_use: 'tool_use',
  max_tokens: 'max_tokens',
};

/**
 * Folds the raw Messages stream into one turn: text deltas go to `onText` as they
 * arrive, tool inputs are assembled from their `input_json_delta` fragments, and
 * thinking is kept apart from the text (only for replay, never shown).
 */
export class ClaudeTurnAssembler {
  readonly #blocks = new Map<number, Block>();
  readonly #usage: TurnUsage = { inputTokens: 0, outputTokens: 0 };
  #stopReason: StopReason | null = null;
  #stopped = false;

  constructor(private readonly onText: (delta: string) => void) {}

  /** True once `message_stop` arrived, i.e. the answer is complete. */
  get finished(): boolean {
    return this.#stopped;
  }

  add(event: RawMessageStreamEvent): void {
    switch (event.type) {
      case 'message_start': {
        const u = event.message.usage;
        // Input counts everything the model read; cache fields are zero unless caching is used.
        this.#usage.inputTokens =
          u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
        this.#usage.outputTokens = u.output_tokens;
        break;
      }
      case 'content_block_start': {
        const b = event.content_block;
        if (b.type === 'text') {
          this.#blocks.set(event.index, { kind: 'text', text: b.text });
          if (b.text) this.onText(b.text);
        } else if (b.type === 'tool_use') {
          this.#blocks.set(event.index, { kind: 'tool_use', id: b.id, name: b.name, json: '' });
        } else if (b.type === 'thinking') {
          this.#blocks.set(event.index, { kind: 'thinking', thinking: b.thinking, signature: b.signature });
        } else if (b.type === 'redacted_thinking') {
          this.#blocks.set(event.index, { kind: 'redacted_thinking', data: b.data });
        } else {
          this.#blocks.set(event.index, { kind: 'other' });
        }
        break;
      }
      case 'content_block_delta': {
        const block = this.#blocks.get(event.index);
        const d = event.delta;
        if (d.type === 'text_delta' && block?.kind === 'text') {
          block.text += d.text;
          this.onText(d.text);
        } else if (d.type === 'input_json_delta' && block?.kind === 'tool_use') {
          block.json += d.partial_json;
        } else if (d.type === 'thinking_delta' && block?.kind === 'thinking') {
          block.thinking += d.thinking;
        } else if (d.type === 'signature_delta' && block?.kind === 'thinking') {
          block.signature += d.signature;
        }
        break;
      }
      case 'content_block_stop': {
        const block = this.#blocks.get(event.index);
        if (block?.kind === 'tool_use') block.input = parseToolArguments(block.json);
        break;
      }
      case 'message_delta': {
        if (event.delta.stop_reason) this.#stopReason = event.delta.stop_reason;
        // message_delta counts are cumulative for the whole message, so they replace, not add.
        const u = event.usage;
        this.#usage.outputTokens = u.output_tokens;
        if (u.input_tokens !== null && u.input_tokens !== undefined) {
          this.#usage.inputTokens =
            u.input_tokens + (u.cache_creation_input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0);
        }
        break;
      }
      case 'message_stop':
        this.#stopped = true;
        break;
    }
  }

  #ordered(): Block[] {
    return [...this.#blocks.entries()].sort(([a], [b]) => a - b).map(([, block]) => block);
  }

  /** The finished turn. */
  turn(): ModelTurn {
    const blocks = this.#ordered();
    const text = blocks.map((b) => (b.kind === 'text' ? b.text : '')).join('');
    const toolCalls: ToolCall[] = blocks.flatMap((b) =>
      b.kind === 'tool_use' ? [{ id: b.id, name: b.name, input: b.input ?? parseToolArguments(b.json) }] : [],
    );
    let stopReason = (this.#stopReason && STOP[this.#stopReason]) ?? 'other';
    // Tool calls that ended the message are tool use, whatever a compatible server called it.
    if (toolCalls.length > 0 && stopReason === 'end') stopReason = 'tool_use';
    return { text, toolCalls, usage: { ...this.#usage }, stopReason };
  }

  /** The assistant content as the API sent it, for sending it back with thinking on. */
  content(): ContentBlockParam[] {
    const content: ContentBlockParam[] = [];
    for (const b of this.#ordered()) {
      if (b.kind === 'thinking')
        content.push({ type: 'thinking', thinking: b.thinking, signature: b.signature });
      else if (b.kind === 'redacted_thinking') content.push({ type: 'redacted_thinking', data: b.data });
      else if (b.kind === 'text' && b.text) content.push({ type: 'text', text: b.text });
      else if (b.kind === 'tool_use') {
        content.push({
          type: 'tool_use',
          id: b.id,
          name: b.name,
          input: b.input ?? parseToolArguments(b.json),
        });
      }
    }
    return content;
  }
}
