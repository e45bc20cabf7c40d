import { isGrpcServiceError } from '@temporalio/client';

/** gRPC codes that mean "Temporal is not there right now", not "the request was wrong". */
const UNAVAILABLE_CODES = new Set([4, 14]);

/** True when `err`, or an error it was caused by, says Temporal could not be reached (deadline, unavailable). */
export function isTemporalUnavailable(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (isGrpcServiceError(e) && UNAVAILABLE_CODES.has(e.code)) return true;
  }
  return false;
}
