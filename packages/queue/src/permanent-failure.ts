import { UnrecoverableError } from 'bullmq';

/** Thrown by a handler to fail its execution without retry. */
export class PermanentFailure extends Error {
  override readonly name = 'PermanentFailure';
}

/**
 * Turns what a handler threw into what BullMQ should record. A PermanentFailure, or any
 * error after the execution was cancelled, must not be retried, which BullMQ only knows
 * from an UnrecoverableError; the original error rides along as `cause` for onFailed.
 */
export function toJobError(thrown: unknown, cancelled: boolean): Error {
  const error = thrown instanceof Error ? thrown : new Error(String(thrown));
  if (!cancelled && !(error instanceof PermanentFailure)) return error;
  const unrecoverable = new UnrecoverableError(error.message);
  unrecoverable.cause = error;
  return unrecoverable;
}

/** The inverse of toJobError, so callers see the error their handler threw. */
export function handlerError(jobError: Error): Error {
  return isUnrecoverable(jobError) && jobError.cause instanceof Error ? jobError.cause : jobError;
}

/** Mirrors BullMQ's own test, which also accepts the error by name. */
export function isUnrecoverable(err: Error): boolean {
  return err instanceof UnrecoverableError || err.name === 'UnrecoverableError';
}
