import { type ApprovalRequestView, oneLine } from '@ccl/core';

/** Telegram's limit on a message's text. */
const MAX_TEXT = 4096;

export interface TaskView {
  number: number;
  id: string;
  title: string;
  project: string;
  execution: {
    number: number;
    state: string;
    agentType: string;
    error: string | null;
    result: unknown;
    costUsd: number | null;
    startedAt: Date | null;
    finishedAt: Date | null;
    waitingOn: ApprovalRequestView | null;
  } | null;
  /** The run's newest progress, tool call or message, in one line. */
  lastProgress: string | null;
  pullRequestUrl: string | null;
  /** The card on the board, when PUBLIC_URL is known. */
  boardUrl: string | null;
}

const STATE_LINE: Record<string, string> = {
  PENDING: '⏳ queued',
  PLANNING: '🧭 planning',
  RUNNING: '⚙️ running',
  WAITING: '✋ waiting for approval',
  COMPLETED: '✅ completed',
  FAILED: '❌ failed',
  CANCELLED: '⏹ cancelled',
};

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function seconds(from: Date | null, to: Date | null): string | null {
  if (!from || !to) return null;
  const s = Math.max(0, Math.round((to.getTime() - from.getTime()) / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

function resultText(result: unknown): string | null {
  if (result === null || result === undefined) return null;
  if (typeof result === 'string') return result;
  if (typeof result === 'object' && typeof (result as { text?: unknown }).text === 'string') {
    return (result as { text: string }).text;
  }
  return JSON.stringify(result);
}

/** The one message a chat has about a task: what it is and where its newest run stands. */
export function renderTask(view: TaskView): string {
  const lines = [`#${view.number} ${oneLine(view.title, 120)} · ${view.project}`];
  const e = view.execution;
  if (!e) {
    lines.push('not started');
  } else {
    let state = STATE_LINE[e.state] ?? e.state.toLowerCase();
    const took = seconds(e.startedAt, e.finishedAt);
    const extras = [e.agentType, took, e.costUsd !== null ? `$${e.costUsd.toFixed(4)}` : null].filter(
      Boolean,
    );
    state += ` (${extras.join(', ')})`;
    lines.push(state);
    if ((e.state === 'RUNNING' || e.state === 'PLANNING') && view.lastProgress)
      lines.push(`› ${view.lastProgress}`);
    if (e.state === 'WAITING' && e.waitingOn) lines.push(`asks: ${oneLine(e.waitingOn.description, 300)}`);
    if (e.state === 'FAILED' && e.error) lines.push(`reason: ${oneLine(e.error, 500)}`);
    if (e.state === 'COMPLETED') {
      const text = resultText(e.result);
      if (text) lines.push('', clip(text.trim(), 1500));
    }
  }
  if (view.pullRequestUrl) lines.push(`PR: ${view.pullRequestUrl}`);
  if (view.boardUrl) lines.push(view.boardUrl);
  return clip(lines.join('\n'), MAX_TEXT);
}

/** What exactly is to be approved: the request's words, then the command or the diff summary. */
export function renderApproval(
  task: { number: number; title: string; project: string },
  execution: { number: number; userId: string },
  request: ApprovalRequestView,
  expiresAt: Date,
): string {
  const lines = [
    `✋ Approval needed · #${task.number} ${oneLine(task.title, 100)} · ${task.project}`,
    `run #${execution.number} by ${execution.userId} asks to ${request.kind}:`,
    clip(request.description.trim() || '(no description)', 1000),
  ];
  const details = detailLines(request.details);
  if (details.length) lines.push('', ...details);
  lines.push('', `Expires ${expiresAt.toISOString().slice(0, 16).replace('T', ' ')} UTC.`);
  lines.push('Reply to this message to deny with a comment, or with /approve <comment>.');
  return clip(lines.join('\n'), MAX_TEXT);
}

function detailLines(details: Record<string, unknown>): string[] {
  const out: string[] = [];
  const command = details.command ?? details.cmd;
  if (typeof command === 'string') out.push(`$ ${clip(command, 1500)}`);
  const diff = details.diff ?? details.patch;
  if (typeof diff === 'string') out.push(diffSummary(diff));
  const path = details.path ?? details.file;
  if (typeof path === 'string') out.push(`file: ${clip(path, 300)}`);
  for (const [key, value] of Object.entries(details)) {
    if (['command', 'cmd', 'diff', 'patch', 'path', 'file'].includes(key)) continue;
    if (out.length >= 8) break;
    out.push(`${key}: ${oneLine(typeof value === 'string' ? value : JSON.stringify(value), 300)}`);
  }
  return out;
}

/** "3 files, +12 −4: a.ts, b.ts, c.ts" from a unified diff. */
export function diffSummary(diff: string): string {
  const files: string[] = [];
  let added = 0;
  let removed = 0;
  for (const line of diff.split('\n')) {
    if (line.startsWith('+++ ')) {
      const name = line.slice(4).replace(/^b\//, '');
      if (name !== '/dev/null') files.push(name);
    } else if (line.startsWith('+') && !line.startsWith('+++')) added++;
    else if (line.startsWith('-') && !line.startsWith('---')) removed++;
  }
  const names = files.slice(0, 10).join(', ') + (files.length > 10 ? `, … ${files.length - 10} more` : '');
  return `diff: ${files.length} file${files.length === 1 ? '' : 's'}, +${added} −${removed}${names ? `: ${names}` : ''}`;
}

/** The approval message once decided: who, how, and the comment. */
export function renderDecided(original: string, outcome: string): string {
  const head = original.split('\n').slice(0, 3).join('\n');
  return clip(`${head}\n\n${outcome}`, MAX_TEXT);
}
