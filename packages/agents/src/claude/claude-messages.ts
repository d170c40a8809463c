import type { ContentBlockParam, MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import type { LoopMessage, ToolSpec } from '../loop/types.ts';

type AssistantMessage = Extract<LoopMessage, { role: 'assistant' }>;

/** Rebuilds an assistant message's content: its text, then one tool_use block per call. */
export function assistantContent(message: AssistantMessage): ContentBlockParam[] {
  const content: ContentBlockParam[] = [];
  // The API refuses empty text blocks, so a message that only called tools has none.
  if (message.text) content.push({ type: 'text', text: message.text });
  for (const call of message.toolCalls) {
    content.push({ type: 'tool_use', id: call.id, name: call.name, input: call.input });
  }
  return content;
}

/**
 * Maps the loop's conversation to Messages API turns. Tool results become a user
 * message of tool_result blocks; neighbouring messages of one role are merged
 * because the API expects user and assistant to alternate. `replay` may supply an
 * assistant message's content exactly as the API sent it (thinking blocks included).
 */
export function toAnthropicMessages(
  messages: LoopMessage[],
  replay: (message: AssistantMessage) => ContentBlockParam[] | undefined = () => undefined,
): MessageParam[] {
  const out: Array<{ role: 'user' | 'assistant'; content: ContentBlockParam[] }> = [];
  const push = (role: 'user' | 'assistant', content: ContentBlockParam[]) => {
    if (content.length === 0) return;
    const last = out[out.length - 1];
    if (last?.role === role) last.content.push(...content);
    else out.push({ role, content: [...content] });
  };
  for (const message of messages) {
    switch (message.role) {
      case 'user':
        // An empty prompt would be an empty text block, which the API refuses.
        push('user', [{ type: 'text', text: message.text || '(empty message)' }]);
        break;
      case 'assistant':
        push('assistant', replay(message) ?? assistantContent(message));
        break;
      case 'tool':
        push(
          'user',
          message.results.map((result) => ({
            type: 'tool_result',
            tool_use_id: result.callId,
            // An empty error result is refused by the API, and an empty success tells the model nothing.
            content: result.output === '' ? '(no output)' : result.output,
            is_error: result.isError,
          })),
        );
        break;
    }
  }
  return out;
}

export function toAnthropicTools(tools: ToolSpec[]): Tool[] {
  return tools.map((tool) => ({
    name: tool.name,
    description: tool.description,
    // The API requires an object schema at the top level.
    input_schema: { ...tool.inputSchema, type: 'object' },
  }));
}
