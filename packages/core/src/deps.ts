import type { AgentCatalog, FreshRepoTemplate } from '@ccl/agents';
import type { Config } from '@ccl/config';
import type { PrismaClient } from '@ccl/db';
import type { AuditSigner } from './audit-chain.ts';
import type { GithubApps } from './github/client.ts';
import type { ReadCache } from './read-cache.ts';
import type { RefusalLog } from './refusals.ts';
import type { Keyring } from './secrets/keyring.ts';
import type { SkillRegistry } from './skills.ts';

/** A Prisma interactive-transaction client. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

/** The slice of the queue the domain needs; the transport (BullMQ) lives outside core. */
export interface JobQueue {
  /** `priority`: lower runs first (the run's fair-share rank, core/admission.ts). */
  enqueue(executionId: string, opts?: { priority?: number; fresh?: boolean }): Promise<void>;
  /** Moves a parked job back to the queue now; false when it is not parked. */
  wake(executionId: string): Promise<boolean>;
  /** Removes a job no worker has taken yet; false when absent or already running. */
  remove(executionId: string): Promise<boolean>;
  state(executionId: string): Promise<'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'absent'>;
  /** Throws when the backend does not answer within a couple of seconds. */
  ping?(): Promise<void>;
  /** Jobs per BullMQ state, for the read-only queue view. */
  counts?(): Promise<{ waiting: number; active: number; delayed: number; failed: number; completed: number }>;
  /** Removes finished jobs past their keeping time where the backend does not as they finish; how many. */
  trimFinished?(): Promise<number>;
  readonly backend?: string;
}

export interface Publisher {
  publish(channel: string, payload: string): Promise<void>;
  /** Present where the process listens (the LISTEN/NOTIFY notifier); returns the unsubscribe. */
  subscribe?(channel: string, fn: (payload: string) => void): Promise<() => Promise<void>>;
}

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface CoreDeps {
  prisma: PrismaClient;
  config: Config;
  agents: AgentCatalog;
  skills: SkillRegistry;
  queue: JobQueue;
  bus: Publisher;
  log: Logger;
  /** Present in API processes, which hear change notifications and keep it fresh. */
  cache?: ReadCache;
  /** Present in API processes: refusals are counted per minute there instead of one row each. */
  refusals?: RefusalLog;
  /** Keys the audit log's hash chain (AUDIT_HMAC_KEY, or the embedded setup's generated key). */
  audit: AuditSigner;
  /** Encrypts project secrets; absent when no SECRETS_KEY is configured (secrets cannot be stored). */
  secrets?: Keyring;
  /** The repository a workspace without `context.repo` starts as, made once per process. */
  freshRepo: FreshRepoTemplate;
  /** GITHUB_APP_ID and its key configured: the App's installation tokens, cached per process. */
  githubApps?: GithubApps;
}

/** Pub/sub channels (Postgres NOTIFY). */
export const CHANNELS = {
  /** payload: ExecutionChange JSON — any change of an execution (state, event, usage). */
  execution: 'ccl_execution',
  /** payload: `{ taskId }` JSON — a card changed without a change of its runs (boards re-read it). */
  task: 'ccl_task',
  /** payload: execution id — ask the worker that holds it to abort. */
  cancel: 'ccl_cancel',
  /**
   * payload: empty — a credential was revoked or its owner changed (runtime sessions, browser
   * sessions, API keys, devices, roles): API processes drop their cached sessions and re-check
   * the credentials of their open event streams.
   */
  sessions: 'ccl_sessions',
  /**
   * payload: empty — a project's settings or slug, its members or its secrets changed (sent by
   * database triggers, whoever wrote): API processes drop what they kept of projects (project-cache.ts).
   */
  projects: 'ccl_projects',
} as const;

export interface ExecutionChange {
  executionId: string;
  taskId: string;
  seq: number;
  state: string;
  /**
   * On a move to a terminal state, from the transition itself: the run's agent and how long it ran
   * (null when it never started), so that the duration histogram needs no read of its own.
   */
  ended?: { agentType: string; seconds: number | null };
  /**
   * On an event's notice (appendEvent; never on a move): the `updated_at` the event set on the run's
   * row, ISO. A kept poll answer one event behind takes it instead of being read again (read-cache.ts).
   */
  at?: string;
  /** On an event's notice: the event reported usage, so the row's `usage` changed too. */
  usage?: boolean;
}
