import { proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { ErrorType } from '../common/errors';

export type Activities = ReturnType<typeof createActivities>;

/** Failures no retry can mend: bad input, missing specs, refused versions (common/errors). */
export const nonRetryableErrorTypes = Object.values(ErrorType);

/**
 * The retries of the cpu activities (and of the python worker's search activity): 1, 2, 4, 8 s
 * apart, then every 10 s, ten attempts, none for the failures of `nonRetryableErrorTypes`.
 */
export const cpuRetryPolicy: RetryPolicy = {
  initialInterval: '1s',
  backoffCoefficient: 2,
  maximumInterval: '10s',
  maximumAttempts: 10,
  nonRetryableErrorTypes,
};

/**
 * The activities on the cpu worker's queue, as runs and trigger checks call them. Retries 1, 2, 4,
 * 8 s apart, then every 10 s: ten attempts ride out about a minute of the store (S3) or the network
 * being away, and a workflow notices within 10 s that it is back.
 */
export function cpuActivities() {
  return proxyActivities<Activities>({
    startToCloseTimeout: '10 minutes',
    // The cpu worker heartbeats every running activity (workers/activity-heartbeat.ts): an attempt
    // whose worker died, or whose completion was lost while the server was down, is retried after
    // this instead of after the start-to-close timeout.
    heartbeatTimeout: '20s',
    retry: cpuRetryPolicy,
  });
}
