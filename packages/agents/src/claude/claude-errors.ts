import type * as AnthropicSdk from '@anthropic-ai/sdk';
import type { APIError } from '@anthropic-ai/sdk';
import { ProviderAuthError } from '../loop/types.ts';
import { TransientRunnerError } from '../runner.ts';

/** Statuses worth another try later: request timeout, lock conflict, rate limit, server trouble (529 = overloaded). */
const isRetryableStatus = (status: number) =>
  status === 408 || status === 409 || status === 429 || status >= 500;

/** Error types the API sends inside an open stream when its side failed. */
const RETRYABLE_STREAM_TYPES = new Set([
  'overloaded_error',
  'api_error',
  'rate_limit_error',
  'timeout_error',
]);

/** The provider's own words, without the SDK's leading status code or JSON dump. */
function providerMessage(err: APIError): string {
  const type = err.type ? ` (${err.type})` : '';
  return `${err.apiMessage ?? err.message}${type}`;
}

/** A key must never reach a log or an execution's error, even if a provider quotes it back. */
const redact = (text: string, apiKey: string) => (apiKey ? text.split(apiKey).join('[redacted]') : text);

/**
 * Turns whatever the SDK threw into the errors the runner understands. An abort
 * always wins, so a cancel never surfaces as a provider failure.
 */
export function mapClaudeError(
  err: unknown,
  sdk: typeof AnthropicSdk,
  signal: AbortSignal,
  baseURL: string,
  apiKey: string,
): unknown {
  if (signal.aborted) return signal.reason;
  if (err instanceof sdk.APIUserAbortError) return err;
  if (err instanceof sdk.APIConnectionTimeoutError) {
    return new TransientRunnerError(`Anthropic API at ${baseURL} timed out`);
  }
  if (err instanceof sdk.APIConnectionError) {
    const cause = err.cause instanceof Error ? `: ${redact(err.cause.message, apiKey)}` : '';
    return new TransientRunnerError(`Anthropic API at ${baseURL} does not answer${cause}`);
  }
  if (err instanceof sdk.APIError) {
    const status = err.status;
    if (status === 401 || status === 403) {
      // The provider's message is left out: some gateways quote the key they refused.
      return new ProviderAuthError(`ANTHROPIC_API_KEY rejected by the provider (HTTP ${status})`);
    }
    const message = redact(providerMessage(err), apiKey);
    // No status: an `event: error` inside an open stream.
    if (status === undefined) {
      return err.type && !RETRYABLE_STREAM_TYPES.has(err.type)
        ? new Error(`Anthropic stream failed: ${message}`)
        : new TransientRunnerError(`Anthropic stream failed: ${message}`);
    }
    if (isRetryableStatus(status))
      return new TransientRunnerError(`Anthropic API answered HTTP ${status}: ${message}`);
    return new Error(`Anthropic API rejected the request (HTTP ${status}): ${message}`);
  }
  // fetch reports a connection dropped mid-body as a TypeError ("terminated").
  if (err instanceof TypeError) {
    return new TransientRunnerError(`Anthropic stream was cut off: ${redact(err.message, apiKey)}`);
  }
  return err;
}
