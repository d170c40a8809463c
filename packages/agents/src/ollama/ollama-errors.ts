import { TransientRunnerError } from '../runner.ts';

/** The package's ResponseError is not exported, so it is recognised by shape. */
interface ResponseErrorShape {
  name: 'ResponseError';
  error: string;
  status_code: number;
}

export function isResponseError(err: unknown): err is ResponseErrorShape {
  return (
    err instanceof Error &&
    err.name === 'ResponseError' &&
    typeof (err as Partial<ResponseErrorShape>).status_code === 'number'
  );
}

/** fetch reports refused/reset connections as a TypeError whose cause has the system code. */
export function connectionProblem(err: unknown): string | null {
  if (!(err instanceof TypeError)) return null;
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err.message;
}

const isRetryableStatus = (status: number) => status === 408 || status === 429 || status >= 500;

/**
 * Maps what the ollama package threw during a chat into the runner's errors. An
 * abort always wins, so a cancel never looks like a broken host.
 */
export function mapOllamaError(err: unknown, signal: AbortSignal, host: string, model: string): unknown {
  if (signal.aborted) return signal.reason;
  if (isResponseError(err)) {
    const status = err.status_code;
    if (status === 404) {
      return new Error(
        `Ollama at ${host} has no model "${model}" (${err.error}); run \`ollama pull ${model}\``,
      );
    }
    if (isRetryableStatus(status)) {
      return new TransientRunnerError(`Ollama at ${host} answered HTTP ${status}: ${err.error}`);
    }
    return new Error(`Ollama at ${host} rejected the request for "${model}" (HTTP ${status}): ${err.error}`);
  }
  const problem = connectionProblem(err);
  if (problem !== null) return new TransientRunnerError(`Ollama at ${host} does not answer (${problem})`);
  // Left: an `{"error": …}` line inside the stream, or a stream that stopped before `done`;
  // both mean the model runner failed mid-answer and a new try may work.
  if (err instanceof Error)
    return new TransientRunnerError(`Ollama at ${host} failed mid-answer: ${err.message}`);
  return err;
}
