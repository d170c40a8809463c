import { Ollama } from 'ollama';

/** `host` as we name it in messages: no trailing slash. */
export const displayHost = (host: string) => host.replace(/\/+$/, '');

/**
 * An Ollama client whose every request follows `signal`. The package only lets a
 * stream be aborted once its response headers are in (through the iterator), so
 * a server that is slow to answer could not be cancelled; routing our signal
 * into its fetch closes the connection at once in every phase.
 */
export function ollamaClient(host: string, signal: AbortSignal): Ollama {
  const boundFetch: typeof fetch = (input, init) =>
    fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, signal]) : signal });
  // The package ignores OLLAMA_HOST, so the host is always passed explicitly.
  return new Ollama({ host, fetch: boundFetch });
}
