import type { ApprovalDecision, RunResult } from '@ccl/agents';

/** What a parked run stores beside its runner's checkpoint, to go on where it stopped. */
export interface RunCheckpoint {
  /** `approval`: parked at a question; `progress`: after a finished phase, for a run that comes back. */
  kind: 'approval' | 'progress';
  runner: unknown;
  plan: string | null;
  workspace_dir: string;
  base_commit: string;
  /**
   * Set when parked at a limit (a `budget` question after a model call): the decision is the
   * worker's to apply, and the runner goes on from its checkpoint without hearing of it.
   */
  limit?: { name: string; message: string };
  /**
   * Set when the run stopped at a question of its GitHub delivery (the runner had ended): the
   * runner's result, the question it parked at and the delivery's questions already answered. A
   * resume goes on to the delivery with them, without starting the runner again.
   */
  delivery?: DeliveryCheckpoint;
}

export interface DeliveryCheckpoint {
  result: RunResult;
  asking?: string;
  decisions: Record<string, ApprovalDecision>;
}

function readDelivery(value: unknown): DeliveryCheckpoint | undefined {
  const d = value as Partial<DeliveryCheckpoint> | null | undefined;
  if (!d?.result || typeof d.result !== 'object' || typeof d.result.success !== 'boolean') return undefined;
  return {
    result: d.result,
    ...(typeof d.asking === 'string' ? { asking: d.asking } : {}),
    decisions: d.decisions && typeof d.decisions === 'object' ? d.decisions : {},
  };
}

/**
 * A question's checkpoint once its decision was taken, or a kept one a run goes back to: the run's
 * last finished phase, without the decision. A delivery keeps the runner's result, not its answers.
 */
export function asProgress(saved: RunCheckpoint): RunCheckpoint {
  const { limit: _limit, delivery, ...rest } = saved;
  return {
    ...rest,
    kind: 'progress',
    ...(delivery ? { delivery: { result: delivery.result, decisions: {} } } : {}),
  };
}

export function readCheckpoint(value: unknown): RunCheckpoint | undefined {
  const c = value as Partial<RunCheckpoint> | null;
  if (!c || typeof c.workspace_dir !== 'string' || typeof c.base_commit !== 'string') return undefined;
  const limit = c.limit;
  const delivery = readDelivery(c.delivery);
  return {
    kind: c.kind === 'progress' ? 'progress' : 'approval',
    runner: c.runner,
    plan: c.plan ?? null,
    workspace_dir: c.workspace_dir,
    base_commit: c.base_commit,
    ...(typeof limit?.name === 'string' && typeof limit.message === 'string'
      ? { limit: { name: limit.name, message: limit.message } }
      : {}),
    ...(delivery ? { delivery } : {}),
  };
}
