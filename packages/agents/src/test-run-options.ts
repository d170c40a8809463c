import type { RunOptions } from '@ccl/contracts';

/**
 * For runner tests: the options a plain submit to the inbox resolves to under the default
 * server limits (MAX_TURNS 40, MAX_TOKENS 2 000 000, MAX_COST_USD 5), with what a test exercises
 * set on top.
 */
export function testRunOptions(overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    project: 'inbox',
    approval: 'none',
    approval_by_submitter: true,
    max_turns: 40,
    max_tokens: 2_000_000,
    max_cost_usd: 5,
    network: 'none',
    ...overrides,
  };
}
