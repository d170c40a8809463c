import type * as OpenAISdk from 'openai';
import type { APIError } from 'openai';
import { ProviderAuthError } from '../loop/types.ts';
import { TransientRunnerError } from '../runner.ts';

/** Statuses worth another try later: request timeout, lock conflict, rate limit, server trouble. */
const isRetryableStatus = (status: number) =>
  status === 408 || status === 409 || status === 429 || status >= 500;

/** The provider's own message without the SDK's leading status code. */
function providerMessage(err: APIError): string {
  const body = err.error as { message?: unknown } | undefined;
  return typeof body?.message === 'string' ? body.message : err.message;
}

/**
 * Turns whatever the SDK threw into the errors the runner understands. An abort
 * always wins, so a cancel never surfaces as a provider failure.
 */
export function mapOpenAIError(
  err: unknown,
  sdk: typeof OpenAISdk,
  signal: AbortSignal,
  baseURL: string,
): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof sdk.APIUserAbortError) return err;
  if (err instanceof sdk.APIConnectionTimeoutError) {
    return new TransientRunnerError(`OpenAI API at ${baseURL} timed out`);
  }
  if (err instanceof sdk.APIConnectionError) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return new TransientRunnerError(`OpenAI API at ${baseURL} does not answer${cause}`);
  }
  if (err instanceof sdk.APIError) {
    const status = err.status;
    if (status === 401 || status === 403) {
      // The provider's message may quote part of the key, so it is left out.
      return new ProviderAuthError(`OPENAI_API_KEY rejected by the provider (HTTP ${status})`);
    }
    // No status: an `error` event inside an open stream, which the API sends for server-side failures.
    if (status === undefined)
      return new TransientRunnerError(`OpenAI stream failed: ${providerMessage(err)}`);
    if (isRetryableStatus(status)) {
      return new TransientRunnerError(`OpenAI API answered HTTP ${status}: ${providerMessage(err)}`);
    }
    return new Error(`OpenAI API rejected the request (HTTP ${status}): ${providerMessage(err)}`);
  }
  // fetch reports a connection dropped mid-body as a TypeError ("terminated").
  if (err instanceof TypeError) return new TransientRunnerError(`OpenAI stream was cut off: ${err.message}`);
  return err;
}
