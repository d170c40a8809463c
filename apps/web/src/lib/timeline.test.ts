import type { ExecutionEventDto } from '@ccl/contracts';
import { describe, expect, it } from 'vitest';
import { buildTimeline } from './timeline.ts';

const ev = (seq: number, type: string, data: Record<string, unknown>): ExecutionEventDto => ({
  seq,
  type,
  data,
  created_at: '2026-01-01T00:00:00.000Z',
});

describe('execution timeline', () => {
  it('joins streamed text, folds tool results into their call and pulls out plan and diff', () => {
    const t = buildTimeline([
      ev(1, 'state', { from: 'pending', to: 'planning' }),
      ev(2, 'message', { text: 'Hel' }),
      ev(3, 'message', { text: 'lo' }),
      ev(4, 'artifact', { kind: 'file', name: 'plan.md', content: '1. do it' }),
      ev(5, 'tool_call', { id: 'c1', name: 'read_file', input: { path: 'a' } }),
      ev(6, 'tool_result', { id: 'c1', output: 'contents', isError: false }),
      ev(7, 'state', { from: 'running', to: 'waiting', approval_request: { description: 'run: ls' } }),
      ev(8, 'state', { from: 'waiting', to: 'running', decision: { approved: true, by: 'ann' } }),
      ev(8, 'message', { text: 'duplicate, ignored' }),
      ev(9, 'artifact', { kind: 'diff', name: 'changes.diff', content: '+x' }),
      ev(10, 'usage', { cost_usd: 1 }),
      ev(11, 'error', { message: 'boom' }),
    ]);
    expect(t.plan).toBe('1. do it');
    expect(t.diff).toBe('+x');
    expect(t.lastSeq).toBe(11);
    expect(
      t.items.map((i) =>
        i.kind === 'tool'
          ? `tool ${i.name}=${i.output}`
          : `${i.kind} ${'text' in i ? i.text : i.description}`,
      ),
    ).toEqual([
      'line state → PLANNING',
      'text Hello',
      'tool read_file=contents',
      'approval run: ls',
      'line state → WAITING',
      'line state → RUNNING (approved by ann)',
      'line boom',
    ]);
  });
});
