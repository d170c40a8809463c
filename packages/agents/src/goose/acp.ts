import type { AgentEvent, ApprovalDecision } from '../runner.ts';
import type { GooseOutput } from './goose-process.ts';

/*
 * `goose acp`: goose as an Agent Client Protocol agent on stdio, newline-delimited JSON-RPC 2.0
 * (aaif-goose/goose crates/goose-acp/src/server.rs; agentclientprotocol.com). It is goose's one
 * approval channel without a terminal: under GOOSE_MODE=approve goose sends the client
 * `session/request_permission` {sessionId, toolCall: {toolCallId, title, kind, rawInput},
 * options: [{optionId, name, kind: allow_always | allow_once | reject_once | reject_always}]}
 * before a tool call and waits for {outcome: {outcome: "selected", optionId} | {outcome:
 * "cancelled"}}; a rejected call reaches the model as a declined tool result.
 * The client drives: initialize → session/new {cwd, mcpServers} → session/prompt {sessionId,
 * prompt}, answered with {stopReason} when the turn is over. Meanwhile goose notifies
 * session/update with agent_message_chunk {content}, tool_call {toolCallId, title, rawInput}
 * and tool_call_update {toolCallId, status, content}. (`goose run`'s stream-json output has no
 * way to answer a confirmation, which is why approval mode uses this protocol.)
 */

type Json = Record<string, unknown>;

export const ACP_PROTOCOL_VERSION = 1;
const MAX_TOOL_OUTPUT_CHARS = 100_000;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

export type AcpEnd =
  | { kind: 'done'; stopReason: string }
  | { kind: 'error'; message: string }
  | { kind: 'exit'; code: number | null; signal: NodeJS.Signals | null }
  | { kind: 'aborted' };

export interface AcpIo {
  send(message: Json): void;
  /** The next stdout line or goose's exit; undefined once the run is aborted. */
  next(): Promise<GooseOutput | undefined>;
}

function blockText(block: unknown): string {
  if (!isObject(block)) return '';
  if (typeof block.text === 'string') return block.text;
  if (isObject(block.resource) && typeof block.resource.text === 'string') return block.resource.text;
  return '';
}

/** Text of tool_call_update content: [{type: "content", content: ContentBlock} | {type: "diff", …}]. */
function toolContentText(content: unknown): string {
  if (!Array.isArray(content)) return '';
  const text = content
    .filter(isObject)
    .map((c) =>
      c.type === 'content'
        ? blockText(c.content)
        : c.type === 'diff'
          ? `diff of ${String(c.path ?? 'a file')}`
          : '',
    )
    .filter(Boolean)
    .join('\n');
  return text.length > MAX_TOOL_OUTPUT_CHARS
    ? `${text.slice(0, MAX_TOOL_OUTPUT_CHARS)}\n… [truncated]`
    : text;
}

/** A tool call runs a shell command: ACP kind "execute", or goose's developer shell ("Developer: Shell"). */
export function isShellCall(toolCall: Json): boolean {
  return toolCall.kind === 'execute' || /\bshell\b/i.test(String(toolCall.title ?? ''));
}

/** Turns ACP session updates into our events and keeps what the result needs. */
export class AcpEventMapper {
  private finalText = '';
  toolCalls = 0;

  get summary(): string {
    return this.finalText.trim();
  }

  map(update: Json): AgentEvent[] {
    switch (update.sessionUpdate) {
      case 'agent_message_chunk': {
        const text = blockText(update.content);
        if (!text) return [];
        this.finalText += text;
        return [{ type: 'message', text }];
      }
      case 'tool_call': {
        this.toolCalls++;
        this.finalText = '';
        const input = isObject(update.rawInput) ? update.rawInput : {};
        const id = String(update.toolCallId ?? `goose-tool-${this.toolCalls}`);
        return [{ type: 'tool_call', id, name: String(update.title ?? 'tool'), input }];
      }
      case 'tool_call_update': {
        if (update.status !== 'completed' && update.status !== 'failed') return [];
        this.finalText = '';
        return [
          {
            type: 'tool_result',
            id: String(update.toolCallId ?? ''),
            output: toolContentText(update.content),
            ...(update.status === 'failed' ? { isError: true } : {}),
          },
        ];
      }
      default:
        // thoughts, plans, mode changes …: not part of our event model.
        return [];
    }
  }
}

/**
 * A goose run's state at a shell command's question, which lets the run park (no process, no
 * slot): goose keeps its session in its data directory inside the workspace (GooseRunner), which
 * goes with the parked run; the runner that resumes loads that session and tells goose the answer.
 */
export interface GooseCheckpoint {
  goose_session: string;
  /** The tool call asked about: goose asks for it again once told the answer. */
  asked: { title: string; input: Json };
}

export function gooseCheckpoint(value: unknown): GooseCheckpoint | undefined {
  if (!isObject(value) || typeof value.goose_session !== 'string' || !isObject(value.asked)) return undefined;
  const { title, input } = value.asked;
  return {
    goose_session: value.goose_session,
    asked: { title: String(title ?? ''), input: isObject(input) ? input : {} },
  };
}

/** What a resumed turn tells goose: the person's answer to the command it asked about. */
export function decisionPrompt(asked: GooseCheckpoint['asked'], decision: ApprovalDecision): string {
  const what = typeof asked.input.command === 'string' ? asked.input.command : asked.title;
  const comment = decision.comment ? ` Their comment: ${decision.comment}` : '';
  return decision.approved
    ? `The person reviewing this run approved your request to run: ${what}.${comment} Run it now, then go on with the task.`
    : `The person reviewing this run declined your request to run: ${what}.${comment} Do not run it; go on with the task without it.`;
}

const sameCall = (a: Json, b: Json) => JSON.stringify(a) === JSON.stringify(b);

/** The option to select for a decision; `cancelled` when goose offered none of that kind. */
function permissionOutcome(options: unknown, allow: boolean): Json {
  const list = Array.isArray(options) ? options.filter(isObject) : [];
  const kinds = allow ? ['allow_once', 'allow_always'] : ['reject_once', 'reject_always'];
  for (const kind of kinds) {
    const option = list.find((o) => o.kind === kind);
    if (option) return { outcome: 'selected', optionId: option.optionId };
  }
  return { outcome: 'cancelled' };
}

/**
 * One prompt turn over ACP. Shell commands wait for a person (the yielded approval_request,
 * which carries a GooseCheckpoint so that the run can park); other tools goose asks about (file
 * edits in approve mode) are allowed at once, as in the other runtimes' "commands" approval mode.
 * With `resume`, the turn loads the parked session instead of starting one (goose replays it;
 * the replay is not reported again), sends the person's answer as the prompt, and answers goose's
 * repeated question about that same call itself. A session that cannot be loaded (its workspace
 * started over elsewhere) is said so, and the turn starts over with the task's prompt.
 */
export async function* runAcpTurn(
  io: AcpIo,
  mapper: AcpEventMapper,
  opts: {
    cwd: string;
    prompt: string;
    resume?: { checkpoint: GooseCheckpoint; decision: ApprovalDecision } | undefined;
  },
): AsyncGenerator<AgentEvent, AcpEnd, ApprovalDecision | undefined> {
  let sessionId: unknown;
  /** The decision already made about the call goose asked for before the park (used once). */
  let decided = opts.resume;
  let replaying = false;
  let lastId = 0;
  const calls = new Map<number, string>();
  const call = (method: string, params: Json) => {
    const id = ++lastId;
    calls.set(id, method);
    io.send({ jsonrpc: '2.0', id, method, params });
  };
  const prompt = (text: string) => call('session/prompt', { sessionId, prompt: [{ type: 'text', text }] });
  call('initialize', {
    protocolVersion: ACP_PROTOCOL_VERSION,
    // We serve no files or terminals: goose uses its own developer tools in the workspace.
    clientCapabilities: { fs: { readTextFile: false, writeTextFile: false }, terminal: false },
  });
  for (;;) {
    const out = await io.next();
    if (!out) return { kind: 'aborted' };
    if (out.kind === 'exit') return out;
    let msg: unknown;
    try {
      msg = JSON.parse(out.line);
    } catch {
      msg = undefined;
    }
    if (!isObject(msg)) {
      if (out.line.trim()) yield { type: 'message', text: `[goose] ${out.line.trim()}\n` };
      continue;
    }
    const params = isObject(msg.params) ? msg.params : {};
    if (typeof msg.method === 'string' && msg.id !== undefined) {
      // A request from goose to us.
      if (msg.method !== 'session/request_permission') {
        io.send({ jsonrpc: '2.0', id: msg.id, error: { code: -32601, message: 'Method not found' } });
        continue;
      }
      const toolCall = isObject(params.toolCall) ? params.toolCall : {};
      let allow = true;
      if (isShellCall(toolCall)) {
        const input = isObject(toolCall.rawInput) ? toolCall.rawInput : {};
        const title = String(toolCall.title ?? '');
        if (decided && sameCall(decided.checkpoint.asked.input, input)) {
          allow = decided.decision.approved;
          decided = undefined;
        } else {
          const decision = yield {
            type: 'approval_request',
            id: String(toolCall.toolCallId ?? msg.id),
            kind: 'command',
            description: typeof input.command === 'string' ? `run: ${input.command}` : title || 'tool',
            details: { tool: title, input },
            ...(typeof sessionId === 'string'
              ? {
                  checkpoint: { goose_session: sessionId, asked: { title, input } } satisfies GooseCheckpoint,
                }
              : {}),
          };
          allow = decision?.approved === true;
        }
      }
      io.send({ jsonrpc: '2.0', id: msg.id, result: { outcome: permissionOutcome(params.options, allow) } });
      continue;
    }
    if (typeof msg.method === 'string') {
      if (msg.method === 'session/update' && isObject(params.update) && !replaying) {
        for (const ev of mapper.map(params.update)) yield ev;
      }
      continue;
    }
    const method = typeof msg.id === 'number' ? calls.get(msg.id) : undefined;
    if (!method) continue;
    if (isObject(msg.error) && method === 'session/load') {
      replaying = false;
      decided = undefined;
      const why = String(msg.error.data ?? msg.error.message ?? 'error');
      yield { type: 'message', text: `[goose] could not load its session (${why}); starting over\n` };
      call('session/new', { cwd: opts.cwd, mcpServers: [] });
      continue;
    }
    if (isObject(msg.error)) {
      return { kind: 'error', message: `${method} failed: ${String(msg.error.message ?? 'error')}` };
    }
    const result = isObject(msg.result) ? msg.result : {};
    if (method === 'initialize') {
      if (opts.resume) {
        sessionId = opts.resume.checkpoint.goose_session;
        replaying = true;
        call('session/load', { sessionId, cwd: opts.cwd, mcpServers: [] });
      } else call('session/new', { cwd: opts.cwd, mcpServers: [] });
    } else if (method === 'session/load' && decided) {
      replaying = false;
      prompt(decisionPrompt(decided.checkpoint.asked, decided.decision));
    } else if (method === 'session/new') {
      sessionId = result.sessionId;
      prompt(opts.prompt);
    } else if (method === 'session/prompt') {
      return { kind: 'done', stopReason: String(result.stopReason ?? 'end_turn') };
    }
  }
}
