import type { AgentEvent, ApprovalDecision } from '../runner.ts';
import { type AgentServerClient, HttpStatusError } from './agent-server-client.ts';
import type { OpenHandsEventMapper, PendingAction } from './event-mapper.ts';

/*
 * Confirmation mode of the agent-server (openhands-sdk security/confirmation_policy.py,
 * agent_server event_router.py). A conversation started with
 * `confirmation_policy: {kind: "AlwaysConfirm"}` stops after the agent's ActionEvents
 * with execution_status "waiting_for_confirmation" (a lone FinishAction never waits).
 * POST /api/conversations/{id}/events/respond_to_confirmation {accept, reason} answers:
 * accept runs the pending actions and goes on; reject adds a UserRejectObservation per
 * pending action and leaves the conversation idle, so the agent sees the rejection only
 * when the conversation is run again.
 */

export const ALWAYS_CONFIRM = { kind: 'AlwaysConfirm' } as const;

/** Tools whose actions run shell commands (the SDK's terminal tool, and its older name). */
const COMMAND_TOOLS = new Set(['terminal', 'execute_bash', 'bash']);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const isCommand = (action: PendingAction): boolean => COMMAND_TOOLS.has(action.tool);

/**
 * Our approval mode is "commands": a person decides on shell commands only. The server's
 * AlwaysConfirm stops on every action, so batches without a command are accepted at once.
 */
export function needsPerson(actions: PendingAction[]): boolean {
  return actions.some(isCommand);
}

function describe(action: PendingAction): string {
  if (isCommand(action) && typeof action.input.command === 'string') return `run: ${action.input.command}`;
  const path = typeof action.input.path === 'string' ? ` ${action.input.path}` : '';
  const command = typeof action.input.command === 'string' ? ` ${action.input.command}` : '';
  return `${action.tool}:${command}${path}`;
}

/** One approval request for the whole batch: the agent-server accepts or rejects pending actions together. */
export function approvalRequestFor(
  actions: PendingAction[],
  conversationId: string,
): Extract<AgentEvent, { type: 'approval_request' }> {
  const first = actions.find(isCommand) ?? actions[0];
  const single = actions.length === 1 && first;
  return {
    type: 'approval_request',
    id: first?.toolCallId ?? conversationId,
    kind: 'command',
    description: single ? describe(first) : actions.map(describe).join('; '),
    details: {
      conversation_id: conversationId,
      ...(single ? { tool: first.tool, input: first.input } : {}),
      actions: actions.map((a) => ({ tool: a.tool, tool_call_id: a.toolCallId, input: a.input })),
    },
  };
}

/** The ConfirmationResponseRequest for a person's decision. */
export function confirmationResponse(decision: ApprovalDecision | undefined): {
  accept: boolean;
  reason?: string;
} {
  if (decision?.approved) return { accept: true };
  const by = decision?.by ?? 'a reviewer';
  return {
    accept: false,
    reason: `denied by ${by}${decision?.comment ? `: ${decision.comment}` : ''}`,
  };
}

/** POST …/run; 409 (already running) is what we asked for. */
export async function startRun(client: AgentServerClient, path: string, signal: AbortSignal): Promise<void> {
  try {
    await client.request('POST', `${path}/run`, signal);
  } catch (err) {
    if (!(err instanceof HttpStatusError && err.status === 409)) throw err;
  }
}

/**
 * Where a run asking about a batch stands: `asking` while the question is out. The question carries
 * a checkpoint (the conversation and the mapper's state), so the worker parks the run and lets the
 * runner go while the conversation waits on the agent-server; a later pickup answers it (`answer`).
 */
export interface Question {
  asking: boolean;
  /**
   * While a usage report is out: it carries the checkpoint too, so a worker that stops the run at a
   * budget parks it there, and the runner, let go, pauses the conversation (spending stops) instead
   * of deleting it; the pickup that goes on runs it again.
   */
  atUsage: boolean;
  checkpoint(): unknown;
}

/**
 * The conversation waits for confirmation of its pending actions: ask a person when a
 * command is among them (the run parks in WAITING meanwhile), then answer the agent-server.
 */
export async function* confirmPending(
  client: AgentServerClient,
  path: string,
  conversationId: string,
  mapper: OpenHandsEventMapper,
  signal: AbortSignal,
  question: Question,
): AsyncGenerator<AgentEvent, void, ApprovalDecision | undefined> {
  // The status update can overtake the action events on the socket: read them back.
  if (mapper.pendingActions().length === 0) yield* catchUp(client, path, mapper, signal);
  const pending = mapper.pendingActions();
  if (!needsPerson(pending)) return answer(client, path, { approved: true }, signal);
  question.asking = true;
  const decision = yield {
    ...approvalRequestFor(pending, conversationId),
    checkpoint: question.checkpoint(),
  };
  question.asking = false;
  await answer(client, path, decision, signal);
}

/** A page of `…/events/search`: `next_page_id` names the next page, null after the last. */
interface EventPage {
  items?: unknown[];
  next_page_id?: string | null;
}

/** The most pages a catch-up reads (100 events each) before it settles for what it has. */
const CATCH_UP_PAGES = 50;

/**
 * The events the mapper missed, read back over REST and given out in order as ours: pages of 100,
 * newest first, until a page reaches an event the mapper has seen (it saw a prefix of the stream:
 * everything before that is known) or the conversation's first event. For a status that overtook
 * its events, and for a run picked up again after its worker died, whose socket missed what
 * happened meanwhile, however long that was.
 */
export async function* catchUp(
  client: AgentServerClient,
  path: string,
  mapper: OpenHandsEventMapper,
  signal: AbortSignal,
): AsyncGenerator<AgentEvent, void, unknown> {
  const missed: Record<string, unknown>[] = [];
  let pageId: string | null = null;
  for (let pages = 0; pages < CATCH_UP_PAGES; pages++) {
    const query: string = `limit=100&sort_order=TIMESTAMP_DESC${pageId ? `&page_id=${encodeURIComponent(pageId)}` : ''}`;
    const page: EventPage | undefined = await client.request<EventPage>(
      'GET',
      `${path}/events/search?${query}`,
      signal,
    );
    const items = (Array.isArray(page?.items) ? page.items : []).filter(isObject);
    const known = items.findIndex((event) => mapper.hasSeen(event.id));
    missed.push(...(known === -1 ? items : items.slice(0, known)));
    pageId = typeof page?.next_page_id === 'string' && page.next_page_id ? page.next_page_id : null;
    if (known !== -1 || !pageId) break;
  }
  for (const event of missed.reverse()) for (const ev of mapper.map(event)) yield ev;
}

/**
 * Answers the pending batch. After a rejection the conversation is idle; running it again lets the
 * agent read the rejection and decide what to do.
 */
export async function answer(
  client: AgentServerClient,
  path: string,
  decision: ApprovalDecision | undefined,
  signal: AbortSignal,
): Promise<void> {
  const response = confirmationResponse(decision);
  await client.request('POST', `${path}/events/respond_to_confirmation`, signal, response);
  if (!response.accept) await startRun(client, path, signal);
}
