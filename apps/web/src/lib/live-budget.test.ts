import type { TaskDto } from '@ccl/contracts';
import { describe, expect, it } from 'vitest';
import { spendSignature } from './live-budget.ts';

type Run = NonNullable<TaskDto['latest_execution']>;

const card = (id: string, run: Partial<Run> | null, project = 'money'): TaskDto =>
  ({
    id,
    project_slug: project,
    latest_execution: run && { id: `run-${id}`, state: 'running', cost_usd: null, ...run },
  }) as TaskDto;

describe("what of a board's cards moves its budget", () => {
  it('changes with a run’s cost and with a run ending, not with cards or runs that have not cost anything', () => {
    const start = spendSignature([card('a', { cost_usd: 1 }), card('b', null)], 'money');
    expect(spendSignature([card('a', { cost_usd: 1 }), card('b', null), card('c', null)], 'money')).toBe(
      start,
    );
    expect(
      spendSignature([card('a', { cost_usd: 1 }), card('b', { state: 'running', cost_usd: null })], 'money'),
    ).toBe(start);
    expect(spendSignature([card('b', null), card('a', { cost_usd: 1 })], 'money')).toBe(start);
    expect(spendSignature([card('a', { cost_usd: 1.5 }), card('b', null)], 'money')).not.toBe(start);
    expect(
      spendSignature([card('a', { cost_usd: 1, state: 'completed' }), card('b', null)], 'money'),
    ).not.toBe(start);
    expect(
      spendSignature([card('a', { cost_usd: 1 }), card('b', { state: 'failed', cost_usd: null })], 'money'),
    ).not.toBe(start);
  });

  it('is not known while the cards shown are another project’s', () => {
    expect(spendSignature([card('a', { cost_usd: 1 }, 'calm')], 'money')).toBeNull();
  });
});
