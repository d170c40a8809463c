import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '@ccl/config';
import { createClaudeModel } from './claude/claude-model.ts';
import { EchoRunner } from './echo-runner.ts';
import { findGooseBinary } from './goose/goose-binary.ts';
import { GooseRunner } from './goose/goose-runner.ts';
import { DEFAULT_PRICES, priceOf } from './loop/pricing.ts';
import { type LoopToolbox, ToolLoopRunner } from './loop/tool-loop-runner.ts';
import type { ChatModel } from './loop/types.ts';
import { createOllamaModel, listOllamaModels } from './ollama/ollama-model.ts';
import { createOpenAIModel } from './openai/openai-model.ts';
import { OpenHandsRunner, probeOpenHands } from './openhands/openhands-runner.ts';
import type { AgentRunner } from './runner.ts';
import { createToolbox } from './workspace/index.ts';
import type { NetworkPolicy } from './workspace/network-policy.ts';
import { createSandbox, type Sandbox, type SandboxStatus } from './workspace/sandbox.ts';
import type { Workspace } from './workspace/types.ts';

export interface AgentDescriptor {
  agentType: string;
  name: string;
  description: string;
  capabilities: string[];
  available: boolean;
  /** Why it is unavailable, in plain words (what to set, install or start). */
  reason?: string;
  metadata: Record<string, unknown>;
  /** Present when the runtime can run here, or could once a project supplies `keySecret`. */
  runner?: AgentRunner;
  /** The project secret that stands in for the server's missing key (e.g. ANTHROPIC_API_KEY). */
  keySecret?: string;
}

export const AGENT_ALIASES: Record<string, string> = { openhands: 'opendevin' };
export const GENERAL_PURPOSE = 'general-purpose';
export const DEFAULT_OLLAMA_HOST = 'http://127.0.0.1:11434';

export interface AgentCatalog {
  /** Probes hosts and binaries again when the last probe is older than the cache time. */
  refresh(signal?: AbortSignal): Promise<void>;
  list(): AgentDescriptor[];
  get(agentType: string): AgentDescriptor | undefined;
  /** Resolves aliases and general-purpose; undefined for an unknown type. */
  resolve(agentType: string): AgentDescriptor | undefined;
  knownTypes(): string[];
  /** Where agents' commands run (SANDBOX); shared by every runtime of this catalog. */
  readonly sandbox: Sandbox;
}

type CatalogConfig = Partial<Pick<Config, 'SANDBOX' | 'ALLOWED_PRIVATE_HOSTS'>> &
  Pick<
    Config,
    | 'DEFAULT_AGENT'
    | 'ANTHROPIC_API_KEY'
    | 'ANTHROPIC_BASE_URL'
    | 'OPENAI_API_KEY'
    | 'OPENAI_BASE_URL'
    | 'OLLAMA_HOST'
    | 'OPENHANDS_URL'
    | 'OPENHANDS_API_KEY'
    | 'OPENHANDS_MODEL'
    | 'OPENHANDS_LLM_API_KEY'
    | 'GOOSE_BIN'
    | 'GOOSE_PROVIDER'
    | 'GOOSE_MODEL'
    | 'CLAUDE_MODEL'
    | 'OPENAI_MODEL'
    | 'OLLAMA_MODEL'
    | 'MAX_OUTPUT_TOKENS'
    | 'COMMAND_TIMEOUT_S'
    | 'MODEL_PRICES'
  >;

const PROBE_TTL_MS = 15_000;
/** approval: the agent-server's confirmation mode (openhands/confirmation.ts). */
const OPENHANDS_CAPABILITIES = ['tools', 'streaming', 'approval'];
/** approval: `goose acp` in approve mode (goose/acp.ts). */
const GOOSE_CAPABILITIES = ['tools', 'streaming', 'local', 'approval'];
const PROBE_TIMEOUT_MS = 2_000;

function loopRunner(
  config: CatalogConfig,
  sandbox: Sandbox,
  agentType: 'claude' | 'openai' | 'ollama',
  defaultModel: string,
  createModel: (m: string, secrets: Readonly<Record<string, string>>) => ChatModel,
) {
  const prices = { ...DEFAULT_PRICES, ...config.MODEL_PRICES };
  return new ToolLoopRunner({
    agentType,
    defaultModel,
    createModel,
    priceOf: (model) => priceOf(prices, model),
    maxOutputTokens: config.MAX_OUTPUT_TOKENS,
    createToolbox: (workspace: Workspace, approval, network: NetworkPolicy): LoopToolbox =>
      createToolbox({
        workspace,
        approval,
        network,
        sandbox,
        limits: { commandTimeoutMs: config.COMMAND_TIMEOUT_S * 1000 },
      }),
  });
}

/** The runtimes this server knows, with their real availability here (keys set, hosts answering, binaries found). */
export function createAgentCatalog(config: CatalogConfig): AgentCatalog {
  const byType = new Map<string, AgentDescriptor>();
  const set = (d: AgentDescriptor) => byType.set(d.agentType, d);
  const ollamaHost = config.OLLAMA_HOST ?? DEFAULT_OLLAMA_HOST;
  const sandbox = createSandbox({
    enabled: config.SANDBOX !== 'off',
    allowPrivate: config.ALLOWED_PRIVATE_HOSTS ?? [],
  });
  let sandboxStatus: SandboxStatus | undefined;

  set({
    agentType: 'echo',
    name: 'Echo',
    description:
      'Streams progress events without AI work; for demos and tests (context.echo sets steps, delay_ms, fail, ask_approval)',
    capabilities: ['streaming', 'approval'],
    available: true,
    metadata: { local: true },
    runner: new EchoRunner(),
  });
  // A project can bring its own provider key (a project secret), so the runners exist even
  // when the server has no key: the runtime is then available only to such projects.
  const claudeRunner = loopRunner(config, sandbox, 'claude', config.CLAUDE_MODEL, (model, secrets) =>
    createClaudeModel({
      apiKey: secrets.ANTHROPIC_API_KEY ?? config.ANTHROPIC_API_KEY ?? '',
      model,
      ...(config.ANTHROPIC_BASE_URL ? { baseURL: config.ANTHROPIC_BASE_URL } : {}),
    }),
  );
  set(
    config.ANTHROPIC_API_KEY
      ? {
          agentType: 'claude',
          name: 'Claude',
          description: 'Anthropic Claude (Messages API) with a tool loop over the workspace',
          capabilities: ['tools', 'streaming', 'approval', 'thinking'],
          available: true,
          metadata: { model: config.CLAUDE_MODEL },
          runner: claudeRunner,
        }
      : {
          ...unavailable(
            'claude',
            'Claude',
            'set ANTHROPIC_API_KEY, or store it as a project secret, to use Claude',
            ['tools', 'streaming', 'approval', 'thinking'],
            { model: config.CLAUDE_MODEL },
          ),
          keySecret: 'ANTHROPIC_API_KEY',
          runner: claudeRunner,
        },
  );
  const openaiRunner = loopRunner(config, sandbox, 'openai', config.OPENAI_MODEL, (model, secrets) =>
    createOpenAIModel({
      apiKey: secrets.OPENAI_API_KEY ?? config.OPENAI_API_KEY ?? '',
      model,
      ...(config.OPENAI_BASE_URL ? { baseURL: config.OPENAI_BASE_URL } : {}),
    }),
  );
  const openaiMeta = {
    model: config.OPENAI_MODEL,
    base_url: config.OPENAI_BASE_URL ?? 'https://api.openai.com/v1',
  };
  set(
    config.OPENAI_API_KEY
      ? {
          agentType: 'openai',
          name: 'OpenAI',
          description:
            'OpenAI or any OpenAI-compatible server (chat completions) with a tool loop over the workspace',
          capabilities: ['tools', 'streaming', 'approval'],
          available: true,
          metadata: openaiMeta,
          runner: openaiRunner,
        }
      : {
          ...unavailable(
            'openai',
            'OpenAI',
            'set OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible server), or store the key as a project secret, to use OpenAI',
            ['tools', 'streaming', 'approval'],
            openaiMeta,
          ),
          keySecret: 'OPENAI_API_KEY',
          runner: openaiRunner,
        },
  );
  set(
    unavailable('ollama', 'Ollama', `checking Ollama at ${ollamaHost}`, [
      'tools',
      'streaming',
      'local',
      'approval',
    ]),
  );
  set(
    unavailable(
      'opendevin',
      'OpenHands (OpenDevin)',
      'set OPENHANDS_URL to an OpenHands agent-server',
      OPENHANDS_CAPABILITIES,
    ),
  );
  set(unavailable('goose', 'Goose', 'checking for the goose binary', GOOSE_CAPABILITIES));

  async function probeOllama(signal: AbortSignal) {
    try {
      const models = await listOllamaModels(ollamaHost, signal);
      set({
        agentType: 'ollama',
        name: 'Ollama',
        description: 'Local models through Ollama (no key) with a tool loop over the workspace',
        capabilities: ['tools', 'streaming', 'local', 'approval'],
        available: true,
        metadata: { host: ollamaHost, model: config.OLLAMA_MODEL, models },
        runner: loopRunner(config, sandbox, 'ollama', config.OLLAMA_MODEL, (model) =>
          createOllamaModel({ host: ollamaHost, model }),
        ),
      });
    } catch {
      set(
        unavailable(
          'ollama',
          'Ollama',
          `Ollama at ${ollamaHost} does not answer; start it or set OLLAMA_HOST`,
          ['tools', 'streaming', 'local', 'approval'],
          { host: ollamaHost },
        ),
      );
    }
  }

  async function probeOpenHandsServer(signal: AbortSignal) {
    if (!config.OPENHANDS_URL) return;
    if (!config.OPENHANDS_MODEL) {
      // The agent-server refuses a conversation without an agent LLM.
      set(
        unavailable(
          'opendevin',
          'OpenHands (OpenDevin)',
          'set OPENHANDS_MODEL (the LLM the OpenHands agent uses)',
          OPENHANDS_CAPABILITIES,
          { url: config.OPENHANDS_URL },
        ),
      );
      return;
    }
    const probe = await probeOpenHands(config.OPENHANDS_URL, config.OPENHANDS_API_KEY, signal);
    set(
      probe.ok
        ? {
            agentType: 'opendevin',
            name: 'OpenHands (OpenDevin)',
            description: 'OpenHands agent-server conversations',
            capabilities: OPENHANDS_CAPABILITIES,
            available: true,
            metadata: { url: config.OPENHANDS_URL },
            runner: new OpenHandsRunner({
              url: config.OPENHANDS_URL,
              ...(config.OPENHANDS_API_KEY ? { apiKey: config.OPENHANDS_API_KEY } : {}),
              llm: {
                model: config.OPENHANDS_MODEL,
                ...(config.OPENHANDS_LLM_API_KEY ? { apiKey: config.OPENHANDS_LLM_API_KEY } : {}),
              },
            }),
          }
        : unavailable(
            'opendevin',
            'OpenHands (OpenDevin)',
            `the agent-server at OPENHANDS_URL does not answer: ${probe.reason ?? 'unknown'}`,
            OPENHANDS_CAPABILITIES,
            { url: config.OPENHANDS_URL },
          ),
    );
  }

  async function probeGoose() {
    const bin = await findGooseBinary(config.GOOSE_BIN);
    set(
      bin
        ? {
            agentType: 'goose',
            name: 'Goose',
            description: 'Block Goose CLI (goose run) as a subprocess in the workspace',
            capabilities: GOOSE_CAPABILITIES,
            available: true,
            metadata: { bin, provider: config.GOOSE_PROVIDER ?? null, model: config.GOOSE_MODEL ?? null },
            runner: new GooseRunner({
              bin,
              env: gooseEnvFor(config),
              sandbox,
              configDir: join(homedir(), '.config', 'goose'),
              providerDestinations: gooseProviderDestinations(config),
            }),
          }
        : unavailable(
            'goose',
            'Goose',
            `goose binary not found${config.GOOSE_BIN ? ` at ${config.GOOSE_BIN}` : ' on PATH'}; install Goose or set GOOSE_BIN`,
            GOOSE_CAPABILITIES,
          ),
    );
  }

  let probedAt = 0;
  let probing: Promise<void> | null = null;
  const get = (agentType: string) => byType.get(AGENT_ALIASES[agentType] ?? agentType);
  const general = (): AgentDescriptor => {
    const target = get(config.DEFAULT_AGENT);
    return {
      agentType: GENERAL_PURPOSE,
      name: 'General purpose',
      description: `Routes to the configured default agent (${config.DEFAULT_AGENT})`,
      capabilities: target?.capabilities ?? [],
      available: target?.available ?? false,
      metadata: { routes_to: config.DEFAULT_AGENT, ...(target?.reason ? { reason: target.reason } : {}) },
      ...(target?.reason ? { reason: target.reason } : {}),
    };
  };

  return {
    refresh(signal) {
      if (Date.now() - probedAt < PROBE_TTL_MS) return Promise.resolve();
      probing ??= (async () => {
        const timeout = AbortSignal.timeout(PROBE_TIMEOUT_MS);
        const s = signal ? AbortSignal.any([signal, timeout]) : timeout;
        const [status] = await Promise.all([
          sandbox.status(),
          probeOllama(s),
          probeOpenHandsServer(s),
          probeGoose(),
        ]);
        sandboxStatus = status;
        probedAt = Date.now();
      })().finally(() => {
        probing = null;
      });
      return probing;
    },
    list: () => [general(), ...byType.values()].map((d) => withSandbox(d, sandboxStatus)),
    get,
    resolve: (agentType) => (agentType === GENERAL_PURPOSE ? get(config.DEFAULT_AGENT) : get(agentType)),
    knownTypes: () => [GENERAL_PURPOSE, ...byType.keys(), ...Object.keys(AGENT_ALIASES)],
    sandbox,
  };
}

function unavailable(
  agentType: string,
  name: string,
  reason: string,
  capabilities: string[],
  metadata: Record<string, unknown> = {},
): AgentDescriptor {
  return {
    agentType,
    name,
    description: `${name} runtime`,
    capabilities,
    available: false,
    reason,
    metadata: { ...metadata, reason },
  };
}

/**
 * Goose reads its provider, model and the provider's key from its environment; the runner passes
 * only what is listed here, so the server's other secrets never reach it.
 */
function gooseEnvFor(config: CatalogConfig): Record<string, string> {
  const env: Record<string, string> = {};
  if (config.GOOSE_PROVIDER) env.GOOSE_PROVIDER = config.GOOSE_PROVIDER;
  if (config.GOOSE_MODEL) env.GOOSE_MODEL = config.GOOSE_MODEL;
  const provider = config.GOOSE_PROVIDER ?? '';
  if (provider === 'anthropic' && config.ANTHROPIC_API_KEY) env.ANTHROPIC_API_KEY = config.ANTHROPIC_API_KEY;
  if (provider === 'openai' && config.OPENAI_API_KEY) env.OPENAI_API_KEY = config.OPENAI_API_KEY;
  if (provider === 'ollama') env.OLLAMA_HOST = config.OLLAMA_HOST ?? DEFAULT_OLLAMA_HOST;
  return env;
}

/** How the sandbox stands, in words for the board and the doctor. */
export function describeSandbox(status: SandboxStatus): string {
  if (status.state === 'on') return `on (bubblewrap at ${status.bwrap})`;
  if (status.state === 'off') return 'OFF (SANDBOX=off): agent commands run unconfined, as the server itself';
  return `unavailable, agent commands are refused: ${status.reason}`;
}

/** Runtimes whose agent runs commands here say where (OpenHands runs them on its own server). */
function withSandbox(d: AgentDescriptor, status: SandboxStatus | undefined): AgentDescriptor {
  const local = ['claude', 'openai', 'ollama', 'goose'].includes(d.agentType);
  if (!local || !status) return d;
  return { ...d, metadata: { ...d.metadata, sandbox: describeSandbox(status) } };
}

/**
 * Where goose's provider is, for the egress proxy: the one endpoint goose must reach whatever
 * the project's network. Other providers need their host in the project's network_allow.
 */
function gooseProviderDestinations(config: CatalogConfig): string[] {
  const provider = config.GOOSE_PROVIDER ?? '';
  const url =
    provider === 'anthropic'
      ? (config.ANTHROPIC_BASE_URL ?? 'https://api.anthropic.com')
      : provider === 'openai'
        ? (config.OPENAI_BASE_URL ?? 'https://api.openai.com')
        : provider === 'ollama'
          ? (config.OLLAMA_HOST ?? DEFAULT_OLLAMA_HOST)
          : undefined;
  if (!url) return [];
  const u = new URL(url);
  const port = u.port || (u.protocol === 'http:' ? '80' : '443');
  return [`${u.hostname.replace(/^\[|\]$/g, '')}:${port}`];
}

/** Where workspaces live when WORKSPACES_DIR is unset. */
export function defaultWorkspacesDir(dataDir: string): string {
  return join(dataDir, 'workspaces');
}
