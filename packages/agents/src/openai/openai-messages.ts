import type {
  ChatCompletionFunctionTool,
  ChatCompletionMessageParam,
} from 'openai/resources/chat/completions';
import type { LoopMessage, ToolSpec } from '../loop/types.ts';

/**
 * Chat-completions tool messages have no error flag, so a failed tool's output is
 * prefixed to tell the model it did not work.
 */
export function toolResultContent(output: string, isError: boolean): string {
  // Some OpenAI-compatible servers reject an empty content string.
  const text = output === '' ? '(no output)' : output;
  return isError ? `Error: ${text}` : text;
}

/** The system prompt first, then the conversation; one `tool` message per tool result. */
export function toChatMessages(system: string, messages: LoopMessage[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [];
  if (system) out.push({ role: 'system', content: system });
  for (const message of messages) {
    switch (message.role) {
      case 'user':
        out.push({ role: 'user', content: message.text });
        break;
      case 'assistant':
        if (message.toolCalls.length === 0) {
          out.push({ role: 'assistant', content: message.text });
          break;
        }
        out.push({
          role: 'assistant',
          // `content` may be null only when tool calls carry the message.
          content: message.text || null,
          tool_calls: message.toolCalls.map((call) => ({
            id: call.id,
            type: 'function',
            function: { name: call.name, arguments: JSON.stringify(call.input) },
          })),
        });
        break;
      case 'tool':
        for (const result of message.results) {
          out.push({
            role: 'tool',
            tool_call_id: result.callId,
            content: toolResultContent(result.output, result.isError),
          });
        }
        break;
    }
  }
  return out;
}

export function toChatTools(tools: ToolSpec[]): ChatCompletionFunctionTool[] {
  return tools.map((tool) => ({
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: tool.inputSchema },
  }));
}
