import type { ExecutionEventDto } from '@ccl/contracts';

export type TimelineItem =
  | { kind: 'text'; seq: number; text: string }
  | { kind: 'line'; seq: number; text: string; tone: 'info' | 'state' | 'error' }
  | {
      kind: 'tool';
      seq: number;
      id: string;
      name: string;
      input: unknown;
      output: string | null;
      isError: boolean;
    }
  | { kind: 'approval'; seq: number; description: string };

export interface Timeline {
  items: TimelineItem[];
  plan: string | null;
  diff: string | null;
  lastSeq: number;
}

const str = (v: unknown) =>
  typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v);

/**
 * Folds the raw event stream into what a person reads: streamed text deltas joined into
 * paragraphs, each tool call with its result, the plan and the diff pulled out.
 */
export function buildTimeline(events: readonly ExecutionEventDto[]): Timeline {
  const items: TimelineItem[] = [];
  const tools = new Map<string, Extract<TimelineItem, { kind: 'tool' }>>();
  let plan: string | null = null;
  let diff: string | null = null;
  let lastSeq = 0;
  for (const ev of events) {
    if (ev.seq <= lastSeq) continue; // a resumed stream never repeats, but be safe with duplicates
    lastSeq = ev.seq;
    const d = ev.data;
    const last = items.at(-1);
    switch (ev.type) {
      case 'message':
        if (last?.kind === 'text') last.text += str(d.text);
        else items.push({ kind: 'text', seq: ev.seq, text: str(d.text) });
        break;
      case 'state': {
        const approval = d.approval_request as { description?: string } | undefined;
        if (approval) items.push({ kind: 'approval', seq: ev.seq, description: str(approval.description) });
        const decision = d.decision as { approved?: boolean; by?: string } | undefined;
        const by = decision
          ? ` (${decision.approved ? 'approved' : 'denied'}${decision.by ? ` by ${decision.by}` : ''})`
          : '';
        items.push({
          kind: 'line',
          seq: ev.seq,
          tone: 'state',
          text: `state → ${str(d.to).toUpperCase()}${by}`,
        });
        break;
      }
      case 'status':
        items.push({ kind: 'line', seq: ev.seq, tone: 'info', text: str(d.message ?? d.phase) });
        break;
      case 'progress':
        items.push({ kind: 'line', seq: ev.seq, tone: 'info', text: str(d.message) });
        break;
      case 'tool_call': {
        const item = {
          kind: 'tool' as const,
          seq: ev.seq,
          id: str(d.id),
          name: str(d.name),
          input: d.input,
          output: null,
          isError: false,
        };
        tools.set(item.id, item);
        items.push(item);
        break;
      }
      case 'tool_result': {
        const call = tools.get(str(d.id));
        if (call) {
          call.output = str(d.output);
          call.isError = d.isError === true;
        } else {
          items.push({ kind: 'line', seq: ev.seq, tone: 'info', text: `tool output: ${str(d.output)}` });
        }
        break;
      }
      case 'artifact':
        if (d.kind === 'diff') diff = str(d.content);
        else if (str(d.name) === 'plan.md') plan = str(d.content);
        else items.push({ kind: 'line', seq: ev.seq, tone: 'info', text: `file ${str(d.name)}` });
        break;
      case 'error':
        items.push({ kind: 'line', seq: ev.seq, tone: 'error', text: str(d.message) });
        break;
      case 'retry_scheduled':
        items.push({ kind: 'line', seq: ev.seq, tone: 'error', text: `retrying: ${str(d.error)}` });
        break;
      case 'usage':
        break;
      default:
        items.push({ kind: 'line', seq: ev.seq, tone: 'info', text: `${ev.type}: ${JSON.stringify(d)}` });
    }
  }
  return { items, plan, diff, lastSeq };
}
