import { parseToolArguments } from '../loop/tool-arguments.ts';
import type { ToolCall } from '../loop/types.ts';

/** One streamed `delta.tool_calls[]` entry, as chat-completions chunks carry it. */
export interface ToolCallDelta {
  index: number;
  id?: string;
  function?: { name?: string; arguments?: string };
}

interface PendingCall {
  id: string;
  name: string;
  args: string;
}

/**
 * Rebuilds tool calls from streamed fragments. The id and name come in the first
 * delta of a call, the arguments JSON in pieces after it; `index` (not arrival
 * order) says which call a piece belongs to, since parallel calls may interleave.
 */
export class ToolCallAssembler {
  private readonly calls = new Map<number, PendingCall>();

  add(delta: ToolCallDelta): void {
    let call = this.calls.get(delta.index);
    if (!call) {
      call = { id: '', name: '', args: '' };
      this.calls.set(delta.index, call);
    }
    if (delta.id) call.id = delta.id;
    // Some compatible servers repeat the name in every delta; the name is never split.
    if (delta.function?.name) call.name = delta.function.name;
    if (delta.function?.arguments) call.args += delta.function.arguments;
  }

  get size(): number {
    return this.calls.size;
  }

  /** The finished calls in index order; a call without an id gets one so its result can refer to it. */
  finish(): ToolCall[] {
    return [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, call]) => ({
        id: call.id || `call_${index}`,
        name: call.name,
        input: parseToolArguments(call.args),
      }));
  }
}
