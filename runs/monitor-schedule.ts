import { monitorScheduleId } from '../common/workflow-ids';
import {
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
} from '@temporalio/client';
import { durationMs } from '../common/durations';
import type { Triggers } from '../common/triggers';
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
