import { ApplicationFailure, TemporalFailure } from '@temporalio/workflow';

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
