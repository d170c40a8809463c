import type { Message, Tool } from 'ollama';
import type { LoopMessage, ToolSpec } from '../loop/types.ts';

/** Ollama tool messages have no error flag, so a failed tool's output says so in words. */
function toolResultContent(output: string, isError: boolean): string {
  const text = output === '' ? '(no output)' : output;
  return isError ? `Error: ${text}` : text;
}

/** The system prompt first, then the conversation; one `tool` message per tool result. */
export function toOllamaMessages(system: string, messages: LoopMessage[]): Message[] {
  const out: Message[] = [];
  if (system) out.push({ role: 'system', content: system });
  for (const message of messages) {
    switch (message.role) {
      case 'user':
        out.push({ role: 'user', content: message.text });
        break;
      case 'assistant':
        out.push({
          role: 'assistant',
          content: message.text,
          // Ollama's tool calls carry arguments as an object, not a JSON string.
          ...(message.toolCalls.length > 0
            ? {
                tool_calls: message.toolCalls.map((c) => ({
                  function: { name: c.name, arguments: c.input },
                })),
              }
            : {}),
        });
        break;
      case 'tool':
        for (const result of message.results) {
          // Ollama matches results to calls by tool name (its calls have no ids).
          out.push({
            role: 'tool',
            content: toolResultContent(result.output, result.isError),
            tool_name: result.name,
          });
        }
        break;
    }
  }
  return out;
}

export function toOllamaTools(tools: ToolSpec[]): Tool[] {
  return tools.map((tool) => ({
    type: 'function',
    function: {
      name: tool.name,
      description: tool.description,
      // The package types `parameters` narrowly; a JSON Schema object is what the server takes.
      parameters: tool.inputSchema as NonNullable<Tool['function']['parameters']>,
    },
  }));
}
