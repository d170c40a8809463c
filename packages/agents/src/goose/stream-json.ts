import type { AgentEvent } from '../runner.ts';

/*
 * The line format of `goose run --output-format stream-json`, as goose's own
 * source defines it (aaif-goose/goose, formerly block/goose):
 * - crates/goose-cli/src/session/mod.rs: `enum StreamEvent`, serde
 *   `tag = "type", rename_all = "snake_case"`:
 *     {"type":"message","message":<Message>}
 *     {"type":"notification","extension_id":"…","log":{"message":"…"}}
 *       or …,"progress":{"progress":1,"total":3,"message":"…"}}   (NotificationData is flattened)
 *     {"type":"error","error":"…"}            (then no "complete")
 *     {"type":"complete","total_tokens":N|null,"input_tokens":N,"output_tokens":N,"cost_usd":X}
 * - crates/goose/src/conversation/message.rs: Message is camelCase
 *   {id, role, created, content:[…], metadata}; MessageContent is tagged by
 *   "type" (camelCase): "text" {text}, "toolRequest" {id, toolCall},
 *   "toolResponse" {id, toolResult}, "thinking", "systemNotification", …
 * - crates/goose/src/conversation/tool_result_serde.rs: toolCall/toolResult are
 *   {"status":"success","value":…} or {"status":"error","error":"…"}; a
 *   toolCall value is MCP CallToolRequestParams {name, arguments}; a toolResult
 *   value is MCP CallToolResult {content:[…], isError} (older goose: the bare
 *   content array).
 * Tool responses arrive as user-role messages, agent text as assistant-role
 * messages, streamed in chunks (one line per chunk).
 */

type Json = Record<string, unknown>;

const MAX_TOOL_OUTPUT_CHARS = 100_000;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** Parses one stdout line; undefined when it is not a goose stream event (a log line, say). */
export function parseGooseLine(line: string): Json | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const value: unknown = JSON.parse(trimmed);
    return isObject(value) && typeof value.type === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Text of MCP content items; items meant only for the user's eyes are skipped when the model's own are there. */
function contentText(items: unknown): string {
  if (!Array.isArray(items)) return typeof items === 'string' ? items : '';
  const objects = items.filter(isObject);
  const audience = (c: Json) => (isObject(c.annotations) ? c.annotations.audience : undefined);
  const forModel = objects.filter((c) => {
    const a = audience(c);
    return !Array.isArray(a) || a.includes('assistant');
  });
  const parts = (forModel.length ? forModel : objects).map((c) => {
    if (typeof c.text === 'string') return c.text;
    if (c.type === 'image') return `[image ${String(c.mimeType ?? '')}]`.trim();
    if (isObject(c.resource) && typeof c.resource.text === 'string') return c.resource.text;
    if (typeof c.uri === 'string') return `[resource ${c.uri}]`;
    return '';
  });
  return parts.filter(Boolean).join('\n');
}

function capped(text: string): string {
  return text.length > MAX_TOOL_OUTPUT_CHARS
    ? `${text.slice(0, MAX_TOOL_OUTPUT_CHARS)}\n… [${text.length - MAX_TOOL_OUTPUT_CHARS} more characters]`
    : text;
}

export interface GooseUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens?: number;
  costUsd?: number;
}

/** Turns goose stream events into our events and remembers what the result needs. */
export class GooseEventMapper {
  /** Assistant text since the last tool activity: goose's final answer once it completes. */
  private finalText = '';
  toolCalls = 0;
  error: string | undefined;
  completed = false;
  usage: GooseUsage | undefined;

  /** `model` only labels the usage event; goose does not report which model it used. */
  constructor(private readonly model?: string) {}

  get summary(): string {
    return this.finalText.trim();
  }

  map(line: string): AgentEvent[] {
    const ev = parseGooseLine(line);
    if (!ev) {
      // Not ours to interpret (a provider's log line, a warning): keep it visible.
      return line.trim() ? [{ type: 'message', text: `[goose] ${line.trim()}\n` }] : [];
    }
    switch (ev.type) {
      case 'message':
        return isObject(ev.message) ? this.message(ev.message) : [];
      case 'notification':
        return this.notification(ev);
      case 'error': {
        this.error = typeof ev.error === 'string' && ev.error ? ev.error : 'goose reported an error';
        return [{ type: 'error', message: this.error }];
      }
      case 'complete':
        return this.complete(ev);
      default:
        return [];
    }
  }

  private message(message: Json): AgentEvent[] {
    const out: AgentEvent[] = [];
    const content = Array.isArray(message.content) ? message.content.filter(isObject) : [];
    for (const c of content) {
      switch (c.type) {
        case 'text':
          // User-role text is the prompt echoed back; only the agent speaks here.
          if (message.role === 'assistant' && typeof c.text === 'string' && c.text) {
            this.finalText += c.text;
            out.push({ type: 'message', text: c.text });
          }
          break;
        case 'toolRequest':
        case 'frontendToolRequest': {
          this.toolCalls++;
          this.finalText = '';
          const call = isObject(c.toolCall) ? c.toolCall : {};
          const id = String(c.id ?? `goose-tool-${this.toolCalls}`);
          if (call.status === 'success' && isObject(call.value)) {
            const args = isObject(call.value.arguments) ? call.value.arguments : {};
            out.push({ type: 'tool_call', id, name: String(call.value.name ?? 'unknown'), input: args });
          } else {
            out.push({
              type: 'tool_call',
              id,
              name: 'invalid_tool_call',
              input: { error: String(call.error ?? 'invalid') },
            });
          }
          break;
        }
        case 'toolResponse': {
          this.finalText = '';
          const result = isObject(c.toolResult) ? c.toolResult : {};
          const id = String(c.id ?? '');
          if (result.status === 'success') {
            const value = result.value;
            const items = isObject(value) ? value.content : value;
            const isError = isObject(value) && value.isError === true;
            out.push({
              type: 'tool_result',
              id,
              output: capped(contentText(items)),
              ...(isError ? { isError } : {}),
            });
          } else {
            out.push({
              type: 'tool_result',
              id,
              output: String(result.error ?? 'tool failed'),
              isError: true,
            });
          }
          break;
        }
        default:
          // thinking, systemNotification, actionRequired …: not part of our event model.
          break;
      }
    }
    return out;
  }

  private notification(ev: Json): AgentEvent[] {
    // Extension log lines are MCP server chatter; progress is worth showing.
    const p = isObject(ev.progress) ? ev.progress : undefined;
    if (!p) return [];
    const step = num(p.progress) ?? 0;
    const total = num(p.total) ?? 0;
    const message = typeof p.message === 'string' ? p.message : String(ev.extension_id ?? 'goose');
    return [{ type: 'progress', step: Math.round(step), total: Math.round(total), message }];
  }

  private complete(ev: Json): AgentEvent[] {
    this.completed = true;
    const input = num(ev.input_tokens);
    const output = num(ev.output_tokens);
    const total = num(ev.total_tokens);
    const cost = num(ev.cost_usd);
    if (input === undefined && output === undefined && total === undefined && cost === undefined) return [];
    // Without a split, count the total as input so that no token goes unreported.
    const inputTokens =
      input ?? (output === undefined ? (total ?? 0) : Math.max(0, (total ?? output) - output));
    const outputTokens = output ?? 0;
    this.usage = {
      inputTokens,
      outputTokens,
      ...(total !== undefined ? { totalTokens: total } : {}),
      ...(cost !== undefined ? { costUsd: cost } : {}),
    };
    return [
      {
        type: 'usage',
        inputTokens,
        outputTokens,
        ...(cost !== undefined ? { costUsd: cost } : {}),
        ...(this.model ? { model: this.model } : {}),
      },
    ];
  }
}
