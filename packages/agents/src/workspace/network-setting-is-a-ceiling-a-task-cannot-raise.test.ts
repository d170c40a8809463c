import { describe, expect, it } from 'vitest';
import { narrowNetwork, networkPolicyOf } from './network-policy.ts';

describe('a project network setting is a ceiling a task cannot raise', () => {
  it('defaults to none, and a task asking for open under none gets none', () => {
    expect(narrowNetwork({}, {})).toEqual({ network: 'none' });
    expect(narrowNetwork({}, { network: 'open' })).toEqual({ network: 'none' });
    expect(narrowNetwork({ network: 'none' }, { network: 'allowlist', network_allow: ['x.org'] })).toEqual({
      network: 'none',
    });
  });

  it('keeps only the hosts the project allows, and lets a task narrow open to a list or to none', () => {
    const project = { network: 'allowlist', network_allow: ['registry.npmjs.org', '*.github.com'] };
    expect(narrowNetwork(project, {})).toEqual({
      network: 'allowlist',
      network_allow: project.network_allow,
    });
    expect(narrowNetwork(project, { network: 'open' })).toEqual({
      network: 'allowlist',
      network_allow: project.network_allow,
    });
    expect(
      narrowNetwork(project, { network: 'allowlist', network_allow: ['api.github.com', 'evil.example'] }),
    ).toEqual({ network: 'allowlist', network_allow: ['api.github.com'] });
    expect(narrowNetwork({ network: 'open' }, { network: 'allowlist', network_allow: ['pypi.org'] })).toEqual(
      {
        network: 'allowlist',
        network_allow: ['pypi.org'],
      },
    );
    expect(narrowNetwork({ network: 'open' }, { network: 'none' })).toEqual({ network: 'none' });
    expect(narrowNetwork({ network: 'open' }, {})).toEqual({ network: 'open' });
  });

  it('reads what the runners receive', () => {
    expect(networkPolicyOf({})).toEqual({ mode: 'none' });
    expect(networkPolicyOf({ network: 'bogus' })).toEqual({ mode: 'none' });
    expect(networkPolicyOf({ network: 'allowlist', network_allow: ['a.org', 3] })).toEqual({
      mode: 'allowlist',
      hosts: ['a.org'],
    });
  });
});
