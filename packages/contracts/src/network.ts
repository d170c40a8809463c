import { z } from 'zod';

/**
 * What an agent's commands may reach (packages/agents/src/workspace/network-policy.ts):
 * none (the default), allowlist (the hosts of network_allow, through the egress proxy) or
 * open (any public host through the proxy; never loopback or private networks).
 */
export const networkModeSchema = z
  .enum(['none', 'allowlist', 'open'])
  .describe('what agent commands may reach: none, allowlist (network_allow) or open (public hosts)');

/** A host name (or IPv4 address), or `*.domain` for every subdomain. */
const allowedHostSchema = z
  .string()
  .trim()
  .toLowerCase()
  .max(253)
  .regex(
    /^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/,
    'a host name like registry.npmjs.org, or *.example.com for its subdomains',
  );

export const networkAllowSchema = z
  .array(allowedHostSchema)
  .max(200)
  .describe('host names agent commands may reach under network: allowlist');
