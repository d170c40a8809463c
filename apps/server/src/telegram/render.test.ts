import { describe, expect, it } from 'vitest';
import { diffSummary, renderApproval, renderDecided, renderTask, type TaskView } from './render.ts';

const running: NonNullable<TaskView['execution']> = {
  number: 7,
  state: 'RUNNING',
  agentType: 'claude',
  error: null,
  result: null,
  costUsd: null,
  startedAt: new Date('2026-12-05T10:00:00Z'),
  finishedAt: null,
  waitingOn: null,
};

const base: TaskView = {
  number: 42,
  id: 'x',
  title: 'Fix the footer',
  project: 'web',
  execution: running,
  lastProgress: 'bash npm test',
  pullRequestUrl: null,
  boardUrl: null,
};

describe('task messages', () => {
  it('shows the running step, then the result, cost, time and PR when done', () => {
    expect(renderTask(base)).toBe('#42 Fix the footer · web\n⚙️ running (claude)\n› bash npm test');
    const done = renderTask({
      ...base,
      execution: {
        ...running,
        state: 'COMPLETED',
        result: 'Footer fixed; tests pass.',
        costUsd: 0.01234,
        finishedAt: new Date('2026-12-05T10:00:42Z'),
      },
      pullRequestUrl: 'https://github.com/acme/web/pull/3',
      boardUrl: 'https://clawlink.example/tasks/42',
    });
    expect(done).toBe(
      '#42 Fix the footer · web\n✅ completed (claude, 42 s, $0.0123)\n\nFooter fixed; tests pass.\n' +
        'PR: https://github.com/acme/web/pull/3\nhttps://clawlink.example/tasks/42',
    );
  });

  it('says why a run failed, and what a waiting one asks', () => {
    expect(
      renderTask({
        ...base,
        execution: { ...running, state: 'FAILED', error: 'turn limit reached' },
      }),
    ).toContain('❌ failed (claude)\nreason: turn limit reached');
    const waiting = renderTask({
      ...base,
      execution: {
        ...running,
        state: 'WAITING',
        waitingOn: {
          id: 'r1',
          kind: 'command',
          description: 'run rm -rf build',
          details: {},
          requestedAt: null,
        },
      },
    });
    expect(waiting).toContain('✋ waiting for approval (claude)\nasks: run rm -rf build');
  });

  it('never exceeds Telegram’s 4096 characters', () => {
    const long = renderTask({
      ...base,
      execution: { ...running, state: 'COMPLETED', result: 'x'.repeat(10_000) },
      title: 't'.repeat(500),
    });
    expect(long.length).toBeLessThanOrEqual(4096);
  });
});

describe('approval messages', () => {
  it('shows the command, or the diff as files and line counts, and the expiry', () => {
    const text = renderApproval(
      { number: 42, title: 'Fix the footer', project: 'web' },
      { number: 7, userId: 'alice' },
      {
        id: 'r1',
        kind: 'command',
        description: 'Run the migration',
        details: { command: 'npm run migrate', diff: '--- a/x.ts\n+++ b/x.ts\n+a\n+b\n-c\n+++ b/y.ts\n+d' },
        requestedAt: null,
      },
      new Date('2026-12-05T11:00:00Z'),
    );
    expect(text).toContain(
      '✋ Approval needed · #42 Fix the footer · web\nrun #7 by alice asks to command:\nRun the migration',
    );
    expect(text).toContain('$ npm run migrate');
    expect(text).toContain('diff: 2 files, +3 −1: x.ts, y.ts');
    expect(text).toContain('Expires 2026-12-05 11:00 UTC.');
    expect(renderDecided(text, '✅ Approved by bob')).toBe(
      '✋ Approval needed · #42 Fix the footer · web\nrun #7 by alice asks to command:\nRun the migration\n\n✅ Approved by bob',
    );
    expect(diffSummary('')).toBe('diff: 0 files, +0 −0');
  });
});
