/*
 * Builders for the stdout lines of `goose run --output-format stream-json`, in
 * the shapes goose serializes them (StreamEvent in
 * crates/goose-cli/src/session/mod.rs; Message/MessageContent in
 * crates/goose/src/conversation/message.rs; tool results per
 * tool_result_serde.rs). Wrap them as `{ line: … }` script steps.
 */

type Json = Record<string, unknown>;

let seq = 0;
const now = () => Math.floor(Date.now() / 1000);

function message(role: 'assistant' | 'user', content: Json[], id: string | null = `msg_${++seq}`): Json {
  return {
    type: 'message',
    message: { id, role, created: now(), content, metadata: { userVisible: true, agentVisible: true } },
  };
}

/** An assistant text chunk (goose streams one line per chunk, sharing the message id). */
export function gooseText(text: string, id?: string): Json {
  return message('assistant', [{ type: 'text', text }], id);
}

/** An assistant message asking to call an MCP tool, e.g. "developer__shell". */
export function gooseToolRequest(id: string, name: string, args: Json): Json {
  return message('assistant', [
    { type: 'toolRequest', id, toolCall: { status: 'success', value: { name, arguments: args } } },
  ]);
}

/** The tool's answer; goose sends it as a user-role message with an MCP CallToolResult. */
export function gooseToolResponse(id: string, text: string, isError = false): Json {
  return message('user', [
    {
      type: 'toolResponse',
      id,
      toolResult: { status: 'success', value: { content: [{ type: 'text', text }], isError } },
    },
  ]);
}

/** An MCP log notification from an extension (NotificationData::Log, flattened). */
export function gooseLog(extensionId: string, text: string): Json {
  return { type: 'notification', extension_id: extensionId, log: { message: text } };
}

export function gooseError(error: string): Json {
  return { type: 'error', error };
}

export function gooseComplete(usage: { input?: number; output?: number; costUsd?: number } = {}): Json {
  const input = usage.input ?? 0;
  const output = usage.output ?? 0;
  return {
    type: 'complete',
    total_tokens: input + output,
    input_tokens: input,
    output_tokens: output,
    ...(usage.costUsd !== undefined ? { cost_usd: usage.costUsd } : {}),
  };
}
