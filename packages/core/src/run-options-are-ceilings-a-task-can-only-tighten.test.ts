import { submitContextSchema } from '@ccl/contracts';
import { describe, expect, it } from 'vitest';
import { Invalid } from './errors.ts';
import { contextToStore, resolveRunOptions, storedRunOptions } from './run-options.ts';

const server = { MAX_TURNS: 40, MAX_TOKENS: 2_000_000, MAX_COST_USD: 5 };
const resolve = (context: Record<string, unknown>, settings: Record<string, unknown> = {}) =>
  resolveRunOptions({
    context: submitContextSchema.parse(context),
    project: { slug: 'p', settings },
    skill: null,
    server,
  });

/** Issue 17, item 10: project settings and server limits are ceilings a task's context can only tighten. */
describe('run options: one parse at submit, with ceilings', () => {
  it('approval: a task cannot go below its project (none < commands), but may go above it', () => {
    expect(resolve({ approval: 'none' }, { approval: 'commands' }).approval).toBe('commands');
    expect(resolve({}, { approval: 'commands' }).approval).toBe('commands');
    expect(resolve({ approval: 'commands' }, { approval: 'none' }).approval).toBe('commands');
    expect(resolve({ approval: 'commands' }).approval).toBe('commands');
    expect(resolve({}).approval).toBe('none');
  });

  it('limits: each is the lowest of task, project and server', () => {
    const loose = resolve({ max_cost_usd: 1e6, max_turns: 10_000, max_tokens: 1e9 }, { max_cost_usd: 0.01 });
    expect(loose).toMatchObject({ max_cost_usd: 0.01, max_turns: 40, max_tokens: 2_000_000 });
    expect(resolve({}, { max_turns: 3, max_tokens: 5000 })).toMatchObject({
      max_turns: 3,
      max_tokens: 5000,
      max_cost_usd: 5,
    });
    expect(resolve({ max_turns: 2, max_cost_usd: 0.5 }, { max_turns: 3, max_cost_usd: 1 })).toMatchObject({
      max_turns: 2,
      max_cost_usd: 0.5,
    });
  });

  it('approval_by_submitter: a false anywhere stays false', () => {
    expect(resolve({}).approval_by_submitter).toBe(true);
    expect(
      resolve({ approval_by_submitter: true }, { approval_by_submitter: false }).approval_by_submitter,
    ).toBe(false);
    expect(resolve({ approval_by_submitter: false }).approval_by_submitter).toBe(false);
  });

  it('network stays a ceiling; repo, ref and model stay defaults the task overrides', () => {
    const settings = {
      network: 'allowlist',
      network_allow: ['*.github.com'],
      repo: 'https://a/r.git',
      model: 'm1',
    };
    expect(
      resolve({ network: 'open', network_allow: ['api.github.com', 'evil.example'] }, settings),
    ).toMatchObject({
      network: 'allowlist',
      network_allow: ['api.github.com'],
      repo: 'https://a/r.git',
      model: 'm1',
    });
    expect(resolve({ repo: 'https://b/r.git', ref: 'dev', model: 'm2' }, settings)).toMatchObject({
      repo: 'https://b/r.git',
      ref: 'dev',
      model: 'm2',
    });
  });

  it('a project whose stored settings no longer parse refuses runs instead of dropping its ceilings', () => {
    expect(() => resolve({}, { max_cost_usd: 'cheap' })).toThrow(Invalid);
  });

  it('stores the caller metadata beside the resolved options, never the asked-for values', () => {
    const context = submitContextSchema.parse({
      description: 'd',
      note: 1,
      approval: 'none',
      max_cost_usd: 1e6,
    });
    const options = resolveRunOptions({
      context,
      project: { slug: 'p', settings: { approval: 'commands', max_cost_usd: 0.01 } },
      skill: null,
      server,
    });
    const stored = contextToStore(context, options);
    expect(stored).toMatchObject({ description: 'd', note: 1, approval: 'commands', max_cost_usd: 0.01 });
    expect(storedRunOptions(stored, server)).toEqual(options);
  });

  it('an execution stored before run options existed gets the server limits as ceilings', () => {
    const legacy = { project: 'p', approval: 'commands', max_cost_usd: 50, network: 'open', model: 'm' };
    expect(storedRunOptions(legacy, server)).toMatchObject({
      project: 'p',
      approval: 'commands',
      max_cost_usd: 5,
      max_turns: 40,
      network: 'open',
      model: 'm',
    });
  });
});
