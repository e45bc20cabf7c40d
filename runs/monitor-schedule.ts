import { monitorScheduleId } from '../common/workflow-ids';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import { durationMs } from '../common/durations';
import type { TriggerEvaluation, Triggers } from '../common/triggers';
import type { triggerCheckWorkflow } from '../workflows';

/** What {@link syncMonitorSchedule} did. */
export type MonitorSync = 'created' | 'updated' | 'deleted' | 'absent';

/**
 * Makes the model's monitor schedule match its triggers: created or updated (keeping its paused
 * state) to check every `checkEvery`, deleted when the spec declares no triggers.
 */
export async function syncMonitorSchedule(
  client: Client,
  model: string,
  triggers: Triggers | undefined,
  taskQueue: string,
): Promise<MonitorSync> {
  const handle = client.schedule.getHandle(monitorScheduleId(model));
  const existing = await handle.describe().catch((err: unknown) => {
    if (err instanceof ScheduleNotFoundError) return undefined;
    throw err;
  });
  if (!triggers) {
    if (!existing) return 'absent';
    await handle.delete();
    return 'deleted';
  }
  const every = durationMs(triggers.checkEvery);
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'triggerCheckWorkflow',
    // The server appends the scheduled time: retrain-monitor-<model>-<UTC timestamp>.
    workflowId: monitorScheduleId(model),
    taskQueue,
    args: [{ model }] as Parameters<typeof triggerCheckWorkflow>,
    staticSummary: `Check the triggers of ${model}`,
  };
  if (existing) {
    await handle.update((previous: ScheduleDescription) => ({
      ...previous,
      spec: { intervals: [{ every }] },
      action,
    }));
    return 'updated';
  }
  await client.schedule.create({
    scheduleId: monitorScheduleId(model),
    spec: { intervals: [{ every }] },
    action,
    // A check that overruns its interval makes the next one wait its turn, never run beside it.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every },
    state: { note: 'created from the spec triggers' },
  });
  return 'created';
}

/** A monitor schedule as plain JSON. */
export interface MonitorScheduleState {
  scheduleId: string;
  paused: boolean;
  note: string | null;
  /** When the next check runs, as an ISO time; null while paused. */
  nextCheck: string | null;
  checksTaken: number;
}

/** The model's monitor schedule, null when it has none. */
export async function describeMonitorSchedule(
  client: Client,
  model: string,
): Promise<MonitorScheduleState | null> {
  try {
    const d = await client.schedule.getHandle(monitorScheduleId(model)).describe();
    return {
      scheduleId: d.scheduleId,
      paused: d.state.paused,
      note: d.state.note ?? null,
      nextCheck: d.info.nextActionTimes[0]?.toISOString() ?? null,
      checksTaken: d.info.numActionsTaken,
    };
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

/** Stops (`paused` true) or restarts the model's checks; throws ScheduleNotFoundError when it has no schedule. */
export async function pauseMonitorSchedule(
  client: Client,
  model: string,
  paused: boolean,
  note: string,
): Promise<void> {
  const handle = client.schedule.getHandle(monitorScheduleId(model));
  await (paused ? handle.pause(note) : handle.unpause(note));
}

/** One evaluation of the model's triggers now, by the workflow its schedule runs (it may start a run). */
export async function checkTriggersNow(
  client: Client,
  model: string,
  taskQueue: string,
): Promise<TriggerEvaluation> {
  return client.workflow.execute<typeof triggerCheckWorkflow>('triggerCheckWorkflow', {
    taskQueue,
    workflowId: `${monitorScheduleId(model)}-now-${Date.now()}`,
    args: [{ model }],
    staticSummary: `Check the triggers of ${model} (retrain triggers check)`,
  });
}
