import type { WorkerDeploymentVersion } from '@temporalio/common';
import { type ActivityInterceptorsFactory, type NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import { gpuTaskQueueFor } from '../common/task-queues';
import { heartbeatWhileRunning } from './activity-heartbeat';
import { pinnedTo } from './deployment';
import { workflowCode } from './workflow-bundle';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace: string;
  /** The cpu queue; the gpu queue is derived from it. */
  taskQueue: string;
  deps: ActivityDeps;
  gpuSlots?: number;
  /**
   * The Worker Deployment Version the worker belongs to (cpu and gpu workers of one build share it):
   * its runs are Pinned to it. Unversioned when absent.
   */
  deployment?: WorkerDeploymentVersion;
  /** The cpu worker's prebuilt workflow bundle (`npm run build:workflows`); absent, it bundles the sources at start. */
  workflowBundle?: string;
}

/**
 * The SDK's activity log attributes, less the task token (with it, anyone reading the logs could
 * complete or fail the activity) and with the run as `runId`, the name workflow lines use, so one
 * search finds a run's workflow and activity lines alike.
 */
export const activityLogAttributes: ActivityInterceptorsFactory = () => ({
  outbound: {
    getLogAttributes: (input, next) => {
      const { taskToken: _secret, workflowRunId, ...rest } = next(input);
      return workflowRunId === undefined ? rest : { ...rest, runId: workflowRunId };
    },
  },
});

/** The cpu worker: the workflow and every activity but training, each heartbeating while it runs. */
export function createCpuWorker({
  connection,
  namespace,
  taskQueue,
  deps,
  deployment,
  workflowBundle,
}: WorkerOptions): Promise<Worker> {
  const { trainModel: _gpuOnly, ...activities } = createActivities(deps);
  return Worker.create({
    connection,
    namespace,
    taskQueue,
    ...workflowCode(workflowBundle),
    ...pinnedTo(deployment),
    activities,
    interceptors: { activity: [activityLogAttributes, heartbeatWhileRunning] },
  });
}

/** The gpu worker: `trainModel` only, at most `gpuSlots` trainings at once. */
export function createGpuWorker({
  connection,
  namespace,
  taskQueue,
  deps,
  gpuSlots = 1,
  deployment,
}: WorkerOptions): Promise<Worker> {
  const { trainModel } = createActivities(deps);
  return Worker.create({
    connection,
    namespace,
    taskQueue: gpuTaskQueueFor(taskQueue),
    // In its cpu worker's version, so a Pinned run's trainings go to the gpu workers of its own build.
    ...pinnedTo(deployment),
    activities: { trainModel },
    interceptors: { activity: [activityLogAttributes] },
    maxConcurrentActivityTaskExecutions: gpuSlots,
    // After SIGTERM a training nearly done may still finish; then it is cancelled (WORKER_SHUTDOWN),
    // saves a checkpoint and fails retryably so another worker resumes it.
    shutdownGraceTime: '5s',
    // Bounds the whole shutdown (below a 30 s container stop timeout): saving a checkpoint takes seconds.
    shutdownForceTime: '25s',
    // Heartbeats (and the checkpoint they name) reach the server within 1 s instead of 80% of the
    // timeout, so a killed worker loses at most the epoch in progress and `retrain status` is live.
    maxHeartbeatThrottleInterval: '1s',
  });
}
