import { ActivityCancellationType, proxyActivities, workflowInfo } from '@temporalio/workflow';
import { gpuTaskQueueFor } from '../common/task-queues';
import { nonRetryableErrorTypes, type Activities } from './cpu-activities';

/**
 * `trainModel` on the gpu queue of this run's task queue; call from workflow code. A cancel waits
 * for the training to stop, so its last checkpoint is saved before the run ends.
 */
export function gpuActivities() {
  return proxyActivities<Activities>({
    taskQueue: gpuTaskQueueFor(workflowInfo().taskQueue),
    startToCloseTimeout: '4 hours',
    // A dead gpu worker is noticed within this, and the retry resumes from its last checkpoint.
    // Training heartbeats every second between batches; 30 s also covers a slow checkpoint write.
    heartbeatTimeout: '30s',
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1 minute',
      maximumAttempts: 5,
      nonRetryableErrorTypes,
    },
  });
}
