import { proxyActivities, type ActivityOptions, type RetryPolicy } from '@temporalio/workflow';
import type { createActivities } from '../activities';
import { ErrorType } from '../common/errors';
import { taskPriority, type RunTasks } from '../common/task-priority';

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
 * being away, and a workflow notices within 10 s that it is back. With `run`, each is scheduled at
 * the run's task priority with its model as fairness key (common/task-priority); without, it
 * inherits the workflow's.
 */
export function cpuActivities(run?: RunTasks) {
  return proxyActivities<Activities>({
    ...priorityOf(run),
    startToCloseTimeout: '10 minutes',
    // The cpu worker heartbeats every running activity (workers/activity-heartbeat.ts): an attempt
    // whose worker died, or whose completion was lost while the server was down, is retried after
    // this instead of after the start-to-close timeout.
    heartbeatTimeout: '20s',
    retry: cpuRetryPolicy,
  });
}

/** The `priority` option of a run's activities; none (the workflow's, inherited) without a run. */
export function priorityOf(run: RunTasks | undefined): Pick<ActivityOptions, 'priority'> {
  return run ? { priority: taskPriority(run) } : {};
}
