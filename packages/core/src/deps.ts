import type { AgentCatalog } from '@ccl/agents';
import type { Config } from '@ccl/config';
import type { PrismaClient } from '@ccl/db';
import type { ReadCache } from './read-cache.ts';
import type { SkillRegistry } from './skills.ts';

/** A Prisma interactive-transaction client. */
export type Tx = Parameters<Parameters<PrismaClient['$transaction']>[0]>[0];

/** The slice of the queue the domain needs; the transport (BullMQ) lives outside core. */
export interface JobQueue {
  enqueue(executionId: string): Promise<void>;
  /** Removes a job no worker has taken yet; false when absent or already running. */
  remove(executionId: string): Promise<boolean>;
  state(executionId: string): Promise<'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'absent'>;
}

export interface Publisher {
  publish(channel: string, payload: string): Promise<void>;
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
}

/** Pub/sub channels (Postgres NOTIFY). */
export const CHANNELS = {
  /** payload: ExecutionChange JSON — any change of an execution (state, event, usage). */
  execution: 'ccl_execution',
  /** payload: execution id — ask the worker that holds it to abort. */
  cancel: 'ccl_cancel',
} as const;

export interface ExecutionChange {
  executionId: string;
  taskId: string;
  seq: number;
  state: string;
}
