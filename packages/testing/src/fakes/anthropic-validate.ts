/**
 * The request checks of the Messages API that client code most often trips over,
 * so a test against the fake fails the way the real API would (HTTP 400) instead
 * of passing with a conversation the API refuses.
 */

type Block = { type?: unknown; [key: string]: unknown };
type WireMessage = { role?: unknown; content?: unknown };

const blocksOf = (message: WireMessage): Block[] =>
  typeof message.content === 'string'
    ? [{ type: 'text', text: message.content }]
    : Array.isArray(message.content)
      ? (message.content as Block[])
      : [];

/** A user message that only carries tool results continues the assistant's turn. */
const startsTurn = (message: WireMessage) =>
  message.role === 'user' && blocksOf(message).some((block) => block.type !== 'tool_result');

/** Returns the API-style error message for an invalid request, or null when it is acceptable. */
export function checkMessagesRequest(body: Record<string, unknown>): string | null {
  if (typeof body.model !== 'string' || body.model === '') return 'model: Field required';
  const maxTokens = body.max_tokens;
  if (typeof maxTokens !== 'number' || !Number.isInteger(maxTokens) || maxTokens < 1) {
    return 'max_tokens: Field required';
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return 'messages: at least one message is required';
  const messages = body.messages as WireMessage[];

  for (const [i, message] of messages.entries()) {
    if (message.role !== 'user' && message.role !== 'assistant')
      return `messages.${i}.role: must be user or assistant`;
    const blocks = blocksOf(message);
    const isFinalAssistant = i === messages.length - 1 && message.role === 'assistant';
    if (blocks.length === 0 && !isFinalAssistant) {
      return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    }
    for (const [j, block] of blocks.entries()) {
      if (block.type === 'text' && (typeof block.text !== 'string' || block.text === '')) {
        return `messages.${i}.content.${j}.text: text content blocks must be non-empty`;
      }
    }
    if (message.role !== 'assistant') continue;
    const ids = blocks.filter((b) => b.type === 'tool_use').map((b) => b.id);
    if (ids.length === 0) continue;
    const next = messages[i + 1];
    if (!next) continue;
    const answered = new Set(
      blocksOf(next)
        .filter((b) => b.type === 'tool_result')
        .map((b) => b.tool_use_id),
    );
    const missing = ids.filter((id) => !answered.has(id));
    if (next.role !== 'user' || missing.length > 0) {
      return `messages.${i + 1}: tool_use ids were found without tool_result blocks immediately after: ${missing.join(', ')}`;
    }
  }

  const thinking = body.thinking as { type?: unknown; budget_tokens?: unknown } | undefined;
  if (thinking?.type === 'enabled') {
    const budget = thinking.budget_tokens;
    if (typeof budget !== 'number' || budget < 1024)
      return 'thinking.enabled.budget_tokens: must be at least 1024';
    if (maxTokens <= budget) return '`max_tokens` must be greater than `thinking.budget_tokens`';
    // The assistant turn in progress (a tool-use loop) must open with the thinking it began with.
    let turnStart = -1;
    messages.forEach((message, i) => {
      if (startsTurn(message)) turnStart = i;
    });
    const opening = messages.findIndex((m, i) => i > turnStart && m.role === 'assistant');
    const openingMessage = messages[opening];
    if (openingMessage && blocksOf(openingMessage).some((b) => b.type === 'tool_use')) {
      const first = blocksOf(openingMessage)[0];
      const isThinking =
        (first?.type === 'thinking' && typeof first.signature === 'string' && first.signature !== '') ||
        first?.type === 'redacted_thinking';
      if (!isThinking) {
        return `messages.${opening}.content.0.type: Expected \`thinking\` or \`redacted_thinking\` first, because thinking is enabled and this assistant turn is still using tools; send its thinking blocks back or disable thinking`;
      }
    }
  }
  return null;
}
