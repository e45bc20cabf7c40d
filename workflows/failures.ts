import { ApplicationFailure, TemporalFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { ErrorType } from '../common/errors';
import { formatIssues } from '../common/format-issues';

/**
 * Rethrows `err` unless it is a failure (a TemporalFailure: an activity's or child's failure, an
 * ApplicationFailure, a cancel). Anything else is a bug in workflow code: it must fail the workflow
 * task, which Temporal retries until a fixed deploy continues the run, never be handled as an outcome.
 */
export function rethrowUnlessFailure(err: unknown): asserts err is TemporalFailure {
  if (!(err instanceof TemporalFailure)) throw err;
}

/** The non-retryable InvalidInput failure for `what`, naming each field zod refused. */
export function invalidInput(what: string, error: z.ZodError): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`Invalid ${what}: ${formatIssues(error)}`, ErrorType.InvalidInput);
}

/**
 * The innermost failure of a cause chain: an activity's "Activity task failed" says less than the
 * ApplicationFailure it wraps (`ReloadFailed` with each server's answer, say).
 */
export function rootFailure(err: unknown): { type: string; message: string; details?: unknown } {
  let current = err;
  while (current instanceof TemporalFailure && current.cause instanceof Error) current = current.cause;
  if (!(current instanceof Error)) return { type: 'Error', message: String(err) };
  if (current instanceof ApplicationFailure) {
    const details = current.details?.length === 1 ? current.details[0] : current.details;
    return {
      type: current.type ?? current.name,
      message: current.message,
      ...(details === undefined || (Array.isArray(details) && details.length === 0) ? {} : { details }),
    };
  }
  return { type: current.name, message: current.message };
}

/** The ApplicationFailure type somewhere in the cause chain, so callers can branch on it. */
export function failureType(err: unknown): string | undefined {
  let current = err;
  while (current instanceof Error) {
    if (current instanceof ApplicationFailure && current.type) return current.type;
    current = current.cause;
  }
  return undefined;
}
