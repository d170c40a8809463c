import { EchoRunner } from './echo-runner.ts';
import type { AgentRunner } from './runner.ts';

export interface AgentDescriptor {
  agentType: string;
  name: string;
  description: string;
  capabilities: string[];
  available: boolean;
  /** Why it is unavailable, in plain words (what to set, install or start). */
  reason?: string;
  metadata: Record<string, unknown>;
  /** Present only when the runtime can run here. */
  runner?: AgentRunner;
}

const PENDING_RUNTIMES: Array<Omit<AgentDescriptor, 'available' | 'metadata'>> = [
  {
    agentType: 'claude',
    name: 'Claude',
    description: 'Anthropic Claude through the Messages API with tool use',
    capabilities: ['tools', 'streaming', 'approval'],
  },
  {
    agentType: 'openai',
    name: 'OpenAI',
    description: 'OpenAI (or any OpenAI-compatible server) chat completions with tool calls',
    capabilities: ['tools', 'streaming', 'approval'],
  },
  {
    agentType: 'ollama',
    name: 'Ollama',
    description: 'Local models through Ollama, no API key',
    capabilities: ['tools', 'streaming', 'local', 'approval'],
  },
  {
    agentType: 'opendevin',
    name: 'OpenHands (OpenDevin)',
    description: 'OpenHands agent-server conversations',
    capabilities: ['tools', 'streaming'],
  },
  {
    agentType: 'goose',
    name: 'Goose',
    description: 'Block Goose CLI run as a subprocess',
    capabilities: ['tools', 'streaming', 'local'],
  },
];

export const AGENT_ALIASES: Record<string, string> = { openhands: 'opendevin' };
export const GENERAL_PURPOSE = 'general-purpose';

export interface AgentCatalog {
  list(): AgentDescriptor[];
  get(agentType: string): AgentDescriptor | undefined;
  /** Resolves aliases and general-purpose; undefined for an unknown type. */
  resolve(agentType: string): AgentDescriptor | undefined;
  knownTypes(): string[];
}

export function createAgentCatalog(opts: { defaultAgent: string }): AgentCatalog {
  const echo: AgentDescriptor = {
    agentType: 'echo',
    name: 'Echo',
    description:
      'Streams progress events without AI work; for demos and tests (context.echo sets steps, delay_ms, fail, ask_approval)',
    capabilities: ['streaming', 'approval'],
    available: true,
    metadata: { local: true },
    runner: new EchoRunner(),
  };
  const pending: AgentDescriptor[] = PENDING_RUNTIMES.map((d) => ({
    ...d,
    available: false,
    reason: `the ${d.name} runtime is not part of this build yet`,
    metadata: { reason: `the ${d.name} runtime is not part of this build yet` },
  }));
  const byType = new Map<string, AgentDescriptor>([echo, ...pending].map((d) => [d.agentType, d]));

  const get = (agentType: string) => byType.get(AGENT_ALIASES[agentType] ?? agentType);
  const target = get(opts.defaultAgent);
  const general: AgentDescriptor = {
    agentType: GENERAL_PURPOSE,
    name: 'General purpose',
    description: `Routes to the configured default agent (${opts.defaultAgent})`,
    capabilities: target?.capabilities ?? [],
    available: target?.available ?? false,
    metadata: { routes_to: opts.defaultAgent, ...(target?.reason ? { reason: target.reason } : {}) },
    ...(target?.reason ? { reason: target.reason } : {}),
  };

  return {
    list: () => [general, ...byType.values()],
    get,
    resolve: (agentType) => (agentType === GENERAL_PURPOSE ? target : get(agentType)),
    knownTypes: () => [GENERAL_PURPOSE, ...byType.keys(), ...Object.keys(AGENT_ALIASES)],
  };
}
