import { ApplicationFailure, TemporalFailure } from '@temporalio/workflow';

/** The innermost message: an activity's "Activity task failed" says less than its cause. */
export function failureMessage(err: unknown): string {
  let current = err;
  while (current instanceof TemporalFailure && current.cause instanceof Error) current = current.cause;
  return current instanceof Error ? current.message : String(err);
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
