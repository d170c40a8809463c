import { TransientRunnerError } from '../runner.ts';
import { displayHost, ollamaClient } from './ollama-client.ts';
import { connectionProblem, isResponseError } from './ollama-errors.ts';

/** An availability check must not hang on a host that accepts but never answers. */
const LIST_TIMEOUT_MS = 5000;

/**
 * The models installed at `host` (`GET /api/tags`), e.g. `["llama3.2:latest"]`.
 * Throws TransientRunnerError naming the host when it does not answer.
 */
export async function listOllamaModels(host: string, signal?: AbortSignal): Promise<string[]> {
  const shown = displayHost(host);
  const timeout = AbortSignal.timeout(LIST_TIMEOUT_MS);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  try {
    const list = await ollamaClient(shown, combined).list();
    if (!Array.isArray(list.models))
      throw new Error(`${shown} does not look like an Ollama server (no model list)`);
    return list.models.map((m) => m.name);
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) {
      throw new TransientRunnerError(
        `Ollama at ${shown} does not answer (no reply within ${LIST_TIMEOUT_MS / 1000} s)`,
      );
    }
    if (isResponseError(err)) {
      if (err.status_code >= 500)
        throw new TransientRunnerError(`Ollama at ${shown} answered HTTP ${err.status_code}: ${err.error}`);
      // A 404 on /api/tags means something other than Ollama listens there.
      throw new Error(`${shown} does not look like an Ollama server (HTTP ${err.status_code} on /api/tags)`);
    }
    if (err instanceof SyntaxError)
      throw new Error(`${shown} does not look like an Ollama server (${err.message})`);
    const problem = connectionProblem(err);
    if (problem !== null) throw new TransientRunnerError(`Ollama at ${shown} does not answer (${problem})`);
    throw err;
  }
}
