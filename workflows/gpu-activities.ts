import {
  ActivityCancellationType,
  proxyActivities,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { PythonTrainInput, TrainResult } from '../common/stages';
import { gpuTaskQueueFor, pythonTaskQueueFor } from '../common/task-queues';
import type { RunTasks } from '../common/task-priority';
import type { Device } from '../common/trainer-kinds';
import { nonRetryableErrorTypes, priorityOf, type Activities } from './cpu-activities';

/** How every trainer's `trainModel` is called, whichever queue serves it (docs/trainers.md). */
const TRAINING: ActivityOptions = {
  startToCloseTimeout: '4 hours',
  // A dead training worker is noticed within this, and the retry resumes from its last checkpoint.
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
};

/**
 * `trainModel` on the gpu queue of this run's task queue; call from workflow code. A cancel waits
 * for the training to stop, so its last checkpoint is saved before the run ends. With `run`, at the
 * run's task priority and with its model as fairness key, as the cpu activities (./cpu-activities).
 */
export function gpuActivities(run?: RunTasks) {
  return proxyActivities<Activities>({
    ...TRAINING,
    ...priorityOf(run),
    taskQueue: gpuTaskQueueFor(workflowInfo().taskQueue),
  });
}

/** The python trainer's activities: served by its Temporal Python worker, not by this codebase. */
export interface PythonActivities {
  trainModel(input: PythonTrainInput): Promise<TrainResult>;
}

/**
 * `trainModel` on the python trainer's queue of this run's task queue (`-py`, or `-py-gpu` for a
 * GPU), with the same timeouts, retries, cancellation and priority as TensorFlow.js training.
 */
export function pythonActivities(device: Device | undefined, run?: RunTasks) {
  return proxyActivities<PythonActivities>({
    ...TRAINING,
    ...priorityOf(run),
    taskQueue: pythonTaskQueueFor(workflowInfo().taskQueue, device),
  });
}
