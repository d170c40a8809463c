import type { AgentEvent } from '../runner.ts';
import type { ChatModel, ModelTurn, TurnRequest } from './types.ts';

/**
 * Runs one model turn and yields its text deltas as `message` events while the
 * call is still streaming, then returns the finished turn.
 */
export async function* streamTurn(
  model: ChatModel,
  req: Omit<TurnRequest, 'onText'>,
): AsyncGenerator<AgentEvent, ModelTurn, unknown> {
  const pending: string[] = [];
  let wake: (() => void) | null = null;
  let settled = false;
  let outcome: { turn: ModelTurn } | { error: unknown } | undefined;
  const turn = model.turn({
    ...req,
    onText: (delta) => {
      pending.push(delta);
      wake?.();
    },
  });
  turn.then(
    (t) => {
      outcome = { turn: t };
      settled = true;
      wake?.();
    },
    (error: unknown) => {
      outcome = { error };
      settled = true;
      wake?.();
    },
  );
  for (;;) {
    if (pending.length) {
      // Coalesce what arrived since the last yield into one event.
      yield { type: 'message', text: pending.splice(0).join('') };
      continue;
    }
    if (settled) break;
    await new Promise<void>((resolve) => {
      wake = resolve;
    });
    wake = null;
  }
  if (outcome && 'error' in outcome) throw outcome.error;
  return (outcome as { turn: ModelTurn }).turn;
}
