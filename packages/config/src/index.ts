import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { z } from 'zod';

/** The agent types a caller may name; `general-purpose` resolves to DEFAULT_AGENT. */
export const RUNNER_AGENT_TYPES = ['echo', 'claude', 'openai', 'ollama', 'opendevin', 'goose'] as const;

const optionalUrl = z
  .string()
  .trim()
  .transform((v) => (v === '' ? undefined : v))
  .pipe(z.url().optional())
  .optional();

const list = z
  .string()
  .optional()
  .transform((v) =>
    (v ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(8000, 0, 65535),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** auto: readable lines when stdout is a terminal, JSON otherwise. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** Unset: an embedded PostgreSQL under DATA_DIR/postgres. */
  DATABASE_URL: optionalUrl,
  /** Unset: BullMQ's Postgres backend on the same database. */
  REDIS_URL: optionalUrl,
  DATA_DIR: z.string().min(1).default('.data'),
  /** Port the embedded PostgreSQL tries first; falls back to a free one. */
  EMBEDDED_PG_PORT: int(5488, 1, 65535),
  QUEUE_NAME: z
    .string()
    .regex(/^[a-z0-9-]+$/)
    .default('clawlink-executions'),
  WORKER_CONCURRENCY: int(4, 1, 256),
  /**
   * Runs of one project that may hold a worker slot at once, unless its `settings.max_concurrent`
   * says otherwise; 0: no limit (projects still take turns in the queue).
   */
  PROJECT_MAX_CONCURRENCY: int(0, 0, 10_000),
  /** Connections in one process's database pool; unset, derived from the role (see databasePoolSize). */
  DATABASE_POOL_SIZE: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.coerce.number().int().min(1).max(1000).optional(),
  ),
  EXECUTION_TIMEOUT_S: int(1800, 1, 7 * 24 * 3600),
  /** A WAITING execution with no decision after this long fails. */
  APPROVAL_TIMEOUT_S: int(3600, 1, 7 * 24 * 3600),
  /** Attempts per execution for transient runner errors (1 = no retry). */
  EXECUTION_ATTEMPTS: int(3, 1, 20),
  /**
   * Times in a row a run's worker may stop while holding it (killed, out of memory, lost its claim)
   * without the run reaching a new checkpoint before the run ends FAILED instead of coming back:
   * bounds a run that kills every worker that takes it.
   */
  EXECUTION_MAX_WORKER_LOSSES: int(10, 1, 1000),
  /** How often workers compare executions with the queue and repair lost jobs. */
  RECONCILE_INTERVAL_S: int(30, 1, 3600),
  /**
   * A worker's claim on a job lasts this long unless renewed (every half of it); a killed worker's
   * jobs come back about this long plus one or two QUEUE_STALLED_CHECK_S after it died.
   */
  QUEUE_LOCK_DURATION_S: int(30, 2, 3600),
  /** How often workers look for jobs whose claim expired (their worker died). */
  QUEUE_STALLED_CHECK_S: int(5, 1, 3600),
  /** How often each worker process writes its heartbeat row; three missed beats mark it stale. */
  WORKER_HEARTBEAT_S: int(5, 1, 300),
  DEFAULT_AGENT: z.enum(RUNNER_AGENT_TYPES).default('echo'),
  SKILLS_DIR: z.string().optional(),
  /** Largest accepted request body, in bytes. */
  BODY_LIMIT: int(1_048_576, 1024, 64 * 1_048_576),
  /** Where per-execution workspaces live; default DATA_DIR/workspaces. */
  WORKSPACES_DIR: z.string().optional(),
  /** How long a finished execution's workspace is kept before it is swept. */
  WORKSPACE_RETENTION_S: int(3600, 0, 30 * 24 * 3600),
  WORKSPACE_SNAPSHOT_MAX_MB: int(64, 0, 1024),
  /**
   * A running run's workspace is kept in PostgreSQL with its checkpoint at most this often (at a
   * checkpoint), so that a worker on another machine goes on from there after this one died.
   */
  WORKSPACE_SNAPSHOT_INTERVAL_S: int(300, 0, 7 * 24 * 3600),
  /**
   * Per-execution ceilings for every runtime: turns (the tool loop's, goose's --max-turns,
   * OpenHands' max_iterations), and tokens and dollars (checked by the worker on each usage
   * report). A project's settings and a task's context may only lower them.
   */
  MAX_TURNS: int(40, 1, 500),
  MAX_TOKENS: int(2_000_000, 1000, 100_000_000),
  MAX_COST_USD: z.coerce.number().positive().max(10_000).default(5),
  MAX_OUTPUT_TOKENS: int(8192, 256, 200_000),
  /** A shell command in a workspace is killed after this long. */
  COMMAND_TIMEOUT_S: int(120, 1, 3600),
  /**
   * on: every command an agent runs (run_command, goose) runs inside bubblewrap; where it cannot
   * start, commands are refused. off: an explicit opt-out, logged at boot and shown on the board.
   */
  SANDBOX: z.enum(['on', 'off']).default('on'),
  /** JSON object of model → { input, output } USD per million tokens; extends the built-in table. */
  MODEL_PRICES: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      if (!raw) return {};
      try {
        return z
          .record(z.string(), z.object({ input: z.number().min(0), output: z.number().min(0) }))
          .parse(JSON.parse(raw));
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: 'must be JSON like {"my-model":{"input":1,"output":2}} (USD per million tokens)',
        });
        return z.NEVER;
      }
    }),
  CLAUDE_MODEL: z.string().min(1).default('claude-sonnet-4-6'),
  OPENAI_MODEL: z.string().min(1).default('gpt-4.1'),
  OLLAMA_MODEL: z.string().min(1).default('qwen2.5-coder:7b'),
  ANTHROPIC_API_KEY: z.string().optional(),
  ANTHROPIC_BASE_URL: optionalUrl,
  OPENAI_API_KEY: z.string().optional(),
  OPENAI_BASE_URL: optionalUrl,
  OLLAMA_HOST: optionalUrl,
  OPENHANDS_URL: optionalUrl,
  OPENHANDS_API_KEY: z.string().optional(),
  /** The LLM the agent-server's agent uses (a LiteLLM model name, e.g. anthropic/claude-sonnet-4-6). */
  OPENHANDS_MODEL: z.string().optional(),
  /** Key for that LLM; unset, the agent-server uses its own provider keys. */
  OPENHANDS_LLM_API_KEY: z.string().optional(),
  GOOSE_BIN: z.string().optional(),
  /** Goose's provider and model (passed to goose as GOOSE_PROVIDER / GOOSE_MODEL); unset, goose's own config decides. */
  GOOSE_PROVIDER: z.string().optional(),
  GOOSE_MODEL: z.string().optional(),
  /** local: loopback callers act as the local developer; team: everyone needs credentials. Unset: local on loopback. */
  AUTH_MODE: z.enum(['local', 'team']).optional(),
  /** A browser sign-in lasts at most this long. */
  WEB_SESSION_TTL_S: int(7 * 24 * 3600, 60, 365 * 24 * 3600),
  /** A browser sign-in unused for this long ends. */
  WEB_SESSION_IDLE_S: int(24 * 3600, 60, 365 * 24 * 3600),
  /** A CoderClaw runtime session unused for this long ends (its next call answers 404 unknown session). */
  RUNTIME_SESSION_IDLE_S: int(7 * 24 * 3600, 60, 365 * 24 * 3600),
  /**
   * Key of the audit log's hash chain (HMAC-SHA256), at least 32 characters, never stored in the
   * database. Required with DATABASE_URL; unset on the embedded setup, one is generated into DATA_DIR.
   */
  AUDIT_HMAC_KEY: z
    .string()
    .optional()
    .transform((v) => (v === '' ? undefined : v))
    .pipe(z.string().min(32, 'must be at least 32 characters (e.g. openssl rand -base64 32)').optional()),
  /** 32-byte key (base64 or hex) that encrypts project secrets; unset with DATABASE_URL, secrets cannot be stored. */
  SECRETS_KEY: z.string().optional(),
  /** Name of SECRETS_KEY, stored with each secret so rotation knows what to re-encrypt. */
  SECRETS_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,40}$/)
    .default('k1'),
  /** Earlier keys still needed to decrypt, as id:key pairs, comma-separated. */
  SECRETS_OLD_KEYS: list,
  /** Local paths and file:// URLs as task repositories; unset, allowed only in local mode (never in team mode). */
  ALLOW_LOCAL_REPOS: z.enum(['true', 'false']).optional(),
  /** Comma-separated hosts, IPs or CIDRs that task repository URLs may reach although loopback or private. */
  ALLOWED_PRIVATE_HOSTS: list,
  /** Comma-separated browser origins allowed to call the API cross-origin; unset, none (CORS off). */
  CORS_ORIGINS: list,
  /**
   * The peers that are reverse proxies, whose X-Forwarded-For/-Proto/-Host are believed (client
   * address, https for the Secure cookie, links handed out). Unset or false: none; true: every peer;
   * a number: that many hops; else comma-separated addresses, CIDRs, or loopback/linklocal/uniquelocal.
   */
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((raw, ctx): boolean | number | string[] => {
      const value = (raw ?? '').trim();
      if (value === '' || value === 'false') return false;
      if (value === 'true') return true;
      if (/^\d{1,2}$/.test(value)) return Number(value);
      const entries = value
        .split(',')
        .map((e) => e.trim())
        .filter(Boolean);
      const bad = entries.filter((e) => !isProxyAddress(e));
      if (bad.length) {
        ctx.addIssue({
          code: 'custom',
          message: `not an address, CIDR or loopback/linklocal/uniquelocal: ${bad.join(', ')} (or use true, false or a hop count)`,
        });
        return z.NEVER;
      }
      return entries;
    }),
  /** The address people open the board at, for links in pull requests and GitHub comments; unset: http://HOST:PORT. */
  PUBLIC_URL: optionalUrl,
  /** A token (fine-grained or classic) for linked repositories; a project's own GITHUB_TOKEN secret goes first. */
  GITHUB_TOKEN: z.string().optional(),
  /** A GitHub App instead of a token: its id and private key (PEM text, or the path of a .pem file). */
  GITHUB_APP_ID: z.string().trim().regex(/^\d+$/, 'must be the numeric App id').optional(),
  GITHUB_APP_PRIVATE_KEY: z.string().optional(),
  /** GitHub's REST API; set for GitHub Enterprise Server (https://host/api/v3). */
  GITHUB_API_URL: z.string().trim().pipe(z.url()).default('https://api.github.com'),
  /** Secret of the repository or App webhook; unset, POST /api/github/webhook answers 503. */
  GITHUB_WEBHOOK_SECRET: z.string().optional(),
  /** The login comments may mention instead of `/clawlink` (`@<login> fix the tests`). */
  GITHUB_BOT_LOGIN: z
    .string()
    .trim()
    .regex(/^[A-Za-z0-9-]{1,39}(\[bot\])?$/)
    .default('clawlink'),
  /** The Telegram bot's token from @BotFather; unset, the bot is off. */
  TELEGRAM_BOT_TOKEN: z
    .string()
    .trim()
    .regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'must be a token from @BotFather (<digits>:<letters>)')
    .optional(),
  /** Set: Telegram POSTs updates to this address (ending in /api/telegram/webhook); unset: long polling. */
  TELEGRAM_WEBHOOK_URL: optionalUrl,
  /** The webhook's X-Telegram-Bot-Api-Secret-Token; unset, one derived from the bot token. */
  TELEGRAM_WEBHOOK_SECRET: z
    .string()
    .regex(/^[A-Za-z0-9_-]{16,256}$/, 'must be 16 to 256 of A-Z, a-z, 0-9, _ and -')
    .optional(),
  /** The Bot API's address (a local Bot API server, or a test double). */
  TELEGRAM_API_ROOT: z.string().trim().pipe(z.url()).default('https://api.telegram.org'),
  /** Least time between two messages (sent or edited) in one chat; Telegram allows about one a second. */
  TELEGRAM_CHAT_INTERVAL_MS: int(1000, 0, 60_000),
  /**
   * Seconds a shutdown (SIGTERM, Ctrl-C) waits for running executions; those still running then go
   * back to the queue as they are, for the next worker. A second signal exits at once.
   */
  SHUTDOWN_GRACE_S: int(30, 0, 3600),
  /** Bearer token that lets Prometheus scrape GET /metrics from another machine; unset: this machine only. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /**
   * OTLP/HTTP collector (its base URL; traces go to `<url>/v1/traces`). Set: the process loads the
   * OpenTelemetry SDK and traces requests, enqueues, runs and model calls. Unset: nothing is loaded.
   */
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalUrl,
  /** The `service.name` the traces carry. */
  OTEL_SERVICE_NAME: z.string().trim().min(1).default('clawlink'),
  /** Requests per minute per client address on every route but health checks; 0 turns the limit off. */
  RATE_LIMIT_PER_MINUTE: int(1200, 0, 1_000_000),
  /** Submissions (new tasks and executions) per minute per client address; 0 turns the limit off. */
  RATE_LIMIT_SUBMIT_PER_MINUTE: int(120, 0, 1_000_000),
  /** Failed (404) runtime state polls per minute per client address; 0 turns the limit off. */
  RATE_LIMIT_FAILED_POLLS_PER_MINUTE: int(60, 0, 1_000_000),
});

/** An entry of TRUST_PROXY: an IP address, a CIDR, or one of proxy-addr's names for a range. */
function isProxyAddress(entry: string): boolean {
  if (['loopback', 'linklocal', 'uniquelocal'].includes(entry)) return true;
  const [address = '', bits, ...rest] = entry.split('/');
  const family = isIP(address);
  if (!family || rest.length) return false;
  return bits === undefined || (/^\d+$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

export type Env = z.infer<typeof envSchema>;

export interface Config extends Env {
  /** Absolute path of DATA_DIR. */
  dataDir: string;
  /** True when the server only listens on a loopback address. */
  boundToLoopback: boolean;
  /** AUTH_MODE, defaulted from HOST. */
  authMode: 'local' | 'team';
  /** What task repository URLs may point at (SSRF guard). */
  repoPolicy: { allowLocal: boolean; allowPrivate: string[] };
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/**
 * The database pool of one process: DATABASE_POOL_SIZE when set. Otherwise the api role keeps pg's
 * 10, and a process with a worker gets max(10, ceil(WORKER_CONCURRENCY / 4) + 5): each execution
 * holds a connection only for its short writes, so a quarter of the concurrency plus room for the
 * api, reconciler and sweeper keeps planning from queueing for a connection, while staying under
 * PostgreSQL's default max_connections (100) for one worker at the largest concurrency (256 → 69).
 */
export function databasePoolSize(
  config: Pick<Config, 'DATABASE_POOL_SIZE' | 'WORKER_CONCURRENCY'>,
  role: 'all' | 'api' | 'worker',
): number {
  if (config.DATABASE_POOL_SIZE) return config.DATABASE_POOL_SIZE;
  if (role === 'api') return 10;
  return Math.max(10, Math.ceil(config.WORKER_CONCURRENCY / 4) + 5);
}

/**
 * Variables that hold keys or credentials and may instead be read from a file named by `<NAME>_FILE`
 * (Docker and systemd secrets): a value in the server's own environment stays readable, for the
 * life of the process, to anything that can read /proc/<pid>/environ.
 */
export const FILE_VARIANTS = [
  'DATABASE_URL',
  'REDIS_URL',
  'AUDIT_HMAC_KEY',
  'SECRETS_KEY',
  'SECRETS_OLD_KEYS',
  'ANTHROPIC_API_KEY',
  'OPENAI_API_KEY',
  'OPENHANDS_API_KEY',
  'OPENHANDS_LLM_API_KEY',
  'GITHUB_TOKEN',
  'GITHUB_APP_PRIVATE_KEY',
  'GITHUB_WEBHOOK_SECRET',
  'TELEGRAM_BOT_TOKEN',
  'TELEGRAM_WEBHOOK_SECRET',
  'METRICS_TOKEN',
] as const satisfies ReadonlyArray<keyof typeof envSchema.shape>;

/**
 * The environment with every `<NAME>_FILE` replaced by `<NAME>` holding the file's content (one
 * trailing newline trimmed). Returns the problems instead, each naming its variable.
 */
function readFileVariants(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; problems: string[] } {
  const out: NodeJS.ProcessEnv = { ...env };
  const problems: string[] = [];
  for (const name of FILE_VARIANTS) {
    const path = env[`${name}_FILE`];
    if (path === undefined || path === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`  ${name}_FILE: set either ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      out[name] = readFileSync(path, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      problems.push(`  ${name}_FILE: cannot read ${path} (${code})`);
    }
    delete out[`${name}_FILE`];
  }
  return { env: out, problems };
}

/** Parse and validate the environment once, at boot. Throws a ConfigError naming every bad variable. */
export function loadConfig(rawEnv: NodeJS.ProcessEnv = process.env, cwd: string = process.cwd()): Config {
  const { env, problems } = readFileVariants(rawEnv);
  if (problems.length) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const data = parsed.data;
  if (data.DATABASE_URL && !data.AUDIT_HMAC_KEY) {
    throw new ConfigError(
      'invalid configuration:\n  AUDIT_HMAC_KEY: required when DATABASE_URL is set (the key of the audit ' +
        "log's hash chain, kept outside the database; e.g. openssl rand -base64 32)",
    );
  }
  if (Boolean(data.GITHUB_APP_ID) !== Boolean(data.GITHUB_APP_PRIVATE_KEY)) {
    throw new ConfigError(
      'invalid configuration:\n  GITHUB_APP_ID, GITHUB_APP_PRIVATE_KEY: a GitHub App needs both its id and its private key',
    );
  }
  const boundToLoopback = isLoopbackHost(data.HOST);
  return {
    ...data,
    dataDir: resolve(cwd, data.DATA_DIR),
    boundToLoopback,
    authMode: data.AUTH_MODE ?? (boundToLoopback ? 'local' : 'team'),
    repoPolicy: {
      // A team server on loopback is usually behind a proxy: its users must not reach its disk.
      allowLocal: data.ALLOW_LOCAL_REPOS
        ? data.ALLOW_LOCAL_REPOS === 'true'
        : boundToLoopback && (data.AUTH_MODE ?? 'local') === 'local',
      allowPrivate: data.ALLOWED_PRIVATE_HOSTS,
    },
  };
}
