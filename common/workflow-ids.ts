import { CPU_TASK_QUEUE } from './task-queues';

// Every workflow and schedule id retrain makes, in one place: users' scripts, the Web UI's filters
// and `temporal workflow describe` rely on these shapes (see docs/architecture.md).

/** `retrain-<model>-<UTC timestamp>`, e.g. retrain-flight-delay-20261123T140512Z: the id of a run started on request. */
export function workflowIdFor(model: string, now = new Date()): string {
  return `retrain-${model}-${compactUtc(now)}`;
}

/** A UTC time to the second without separators, as ids carry it: `20261123T140512Z`. */
export function compactUtc(time: Date): string {
  return time
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** `retrain-<model>-<ts>-triggered-<end of the check's run id>`: two checks in one second cannot share one. */
export function triggeredWorkflowId(model: string, checkStarted: Date, checkRunId: string): string {
  return `${workflowIdFor(model, checkStarted)}-triggered-${checkRunId.slice(-8)}`;
}

/** `retrain-<model>-redis-<message id>`: a redelivered message finds its run under this id. */
export function redisJobWorkflowId(model: string, messageId: string): string {
  return `retrain-${model}-redis-${messageId}`;
}

/** `retrain-lease-<model>`: the one workflow id every run of a model competes for (see workflows/lease). */
export function leaseWorkflowId(model: string): string {
  return `retrain-lease-${model}`;
}

/** `retrain-events-<workflowId>-<runId>`: the relay that delivers one run's events. */
export function eventRelayId(workflowId: string, runId: string): string {
  return `retrain-events-${workflowId}-${runId}`;
}

/** Prefix of every weekly schedule's id. */
export const WEEKLY_SCHEDULE_PREFIX = 'retrain-weekly-';

/** `retrain-weekly-<model>`: the model's weekly retraining schedule. */
export function weeklyScheduleId(model: string): string {
  return `${WEEKLY_SCHEDULE_PREFIX}${model}`;
}

/** `retrain-monitor-<model>`: the schedule that checks a model's triggers every `checkEvery`. */
export function monitorScheduleId(model: string): string {
  return `retrain-monitor-${model}`;
}

/**
 * `retrain-fleet-slots`: the coordinator of the deployment's cap on concurrent runs (see
 * workflows/fleet-slots-workflow). Workers on another cpu task queue than the default are another
 * deployment, with their own coordinator: `retrain-fleet-slots-<task queue>`.
 */
export function fleetSlotsWorkflowId(taskQueue: string): string {
  return taskQueue === CPU_TASK_QUEUE ? 'retrain-fleet-slots' : `retrain-fleet-slots-${taskQueue}`;
}

/**
 * `retrain-buffer-maintenance`: the schedule of the deployment's data buffer maintenance (see
 * workflows/buffer-maintenance-workflow); `retrain-buffer-maintenance-<task queue>` for workers on
 * another cpu task queue than the default.
 */
export function bufferMaintenanceScheduleId(taskQueue: string): string {
  return taskQueue === CPU_TASK_QUEUE
    ? 'retrain-buffer-maintenance'
    : `retrain-buffer-maintenance-${taskQueue}`;
}
