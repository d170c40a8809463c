import type { RunOptions } from '@ccl/contracts';
import type { Workspace } from './workspace/types.ts';

/**
 * The contract between the worker and an agent runtime. A runner is an async
 * generator: it yields normalized events and returns one result. When it yields
 * an `approval_request`, the worker moves the execution to WAITING and resumes
 * the generator with the person's decision as the value of that `yield`.
 */

export type AgentEvent =
  | { type: 'status'; phase: 'planning' | 'running'; message?: string }
  | { type: 'message'; text: string }
  | { type: 'progress'; step: number; total: number; message: string }
  | { type: 'tool_call'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; id: string; output: string; isError?: boolean }
  | {
      type: 'usage';
      inputTokens: number;
      outputTokens: number;
      costUsd?: number;
      model?: string;
      /**
       * The runner's state right after the model call that reported, as plain JSON. When the call
       * crossed a budget the run parks with it (gives its slot back) and, once a person lets it go
       * on, resumes from it (`RunInput.resume` without a decision: the decision was the worker's).
       * Runners without it wait for that decision holding their slot.
       */
      checkpoint?: unknown;
    }
  | {
      type: 'approval_request';
      id: string;
      kind: string;
      description: string;
      details?: Record<string, unknown>;
      /**
       * The runner's state at this question, as plain JSON. With it the worker parks the run (gives
       * its slot back) and, once a person decides, any worker resumes it through `RunInput.resume`
       * instead of keeping this generator alive for the wait. Runners whose state lives in a
       * process they hold (Goose) leave it out and keep their slot while they wait.
       */
      checkpoint?: unknown;
    }
  | { type: 'artifact'; kind: 'diff' | 'file'; name: string; content: string }
  /**
   * The runner's state after a finished phase (the plan, a turn's tool calls), as plain JSON: a run
   * that comes back after its worker died goes on from the last one (`RunInput.resume` without a
   * decision) instead of doing that work again. Stored, not shown.
   */
  | { type: 'checkpoint'; state: unknown }
  | { type: 'error'; message: string };

export interface ApprovalDecision {
  approved: boolean;
  comment?: string;
  by?: string;
}

export interface RunResult {
  success: boolean;
  /** Final text (or a structured value) shown as the task's output. */
  result: unknown;
  error?: string;
  metadata?: Record<string, unknown>;
}

export interface RunInput {
  executionId: string;
  /** The execution's own directory; runners work only inside it. */
  workspace: Workspace;
  prompt: string;
  /** What the run may do, resolved at submit under its project's and the server's ceilings. */
  options: RunOptions;
  /** 1-based attempt number (retries after transient errors). */
  attempt: number;
  /** Aborted on cancel, timeout or shutdown; the runner must stop its remote work at once. */
  signal: AbortSignal;
  /** The project's secrets (e.g. ANTHROPIC_API_KEY), decrypted for this run only; they override the server's. */
  secrets?: Readonly<Record<string, string>>;
  /**
   * Set when the run continues from a checkpoint: after a parked approval (that request's checkpoint
   * and the decision: the runner goes on without yielding the question again), or after its worker
   * died (the last `checkpoint` event's state, no decision). Same workspace.
   */
  resume?: { checkpoint: unknown; decision?: ApprovalDecision };
}

export type RunStream = AsyncGenerator<AgentEvent, RunResult, ApprovalDecision | undefined>;

export interface AgentRunner {
  readonly agentType: string;
  run(input: RunInput): RunStream;
  /**
   * A run parked at one of this runner's questions ends without going on from it (cancelled, timed
   * out, or resumed where its checkpoint cannot be used): stop what the checkpoint left waiting
   * elsewhere (OpenHands: the conversation on the agent-server). Best effort; never throws.
   */
  abandon?(checkpoint: unknown): Promise<void>;
  /**
   * True when its checkpoints name work that goes on elsewhere without the worker (an OpenHands
   * conversation): a run of it can only go on from its latest checkpoint, never back to an older
   * one kept with a workspace snapshot.
   */
  readonly remoteState?: boolean;
}

/** Thrown by a runner for errors worth retrying (provider 429/5xx, timeouts). */
export class TransientRunnerError extends Error {
  override name = 'TransientRunnerError';
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
