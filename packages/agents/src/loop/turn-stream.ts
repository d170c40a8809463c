import { type Span, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { AgentEvent } from '../runner.ts';
import type { ChatModel, ModelTurn, TurnRequest } from './types.ts';

/**
 * A client span for one model call (OpenTelemetry's GenAI conventions), a child of the worker's run
 * span. Without OTEL_EXPORTER_OTLP_ENDPOINT no tracer is registered and the API hands out a no-op span.
 */
function modelSpan(model: ChatModel, maxTokens: number): Span {
  return trace.getTracer('@ccl/agents').startSpan(`chat ${model.model}`, {
    kind: SpanKind.CLIENT,
    attributes: {
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': model.provider,
      'gen_ai.request.model': model.model,
      'gen_ai.request.max_tokens': maxTokens,
    },
  });
}

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
  const span = modelSpan(model, req.maxTokens);
  const turn = model.turn({
    ...req,
    onText: (delta) => {
      pending.push(delta);
      wake?.();
    },
  });
  turn.then(
    (t) => {
      span.setAttributes({
        'gen_ai.usage.input_tokens': t.usage.inputTokens,
        'gen_ai.usage.output_tokens': t.usage.outputTokens,
        'gen_ai.response.finish_reasons': [t.stopReason],
      });
      span.end();
      outcome = { turn: t };
      settled = true;
      wake?.();
    },
    (error: unknown) => {
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error)?.message ?? String(error) });
      span.end();
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
