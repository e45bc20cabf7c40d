import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { QueueEntry } from '../common/admission';
import {
  FLEET_SLOTS_WORKFLOW,
  type FleetSlotAnswer,
  type FleetSlotsInput,
  type SlotRequest,
} from '../common/fleet-slots';
import { slotRequestSignal } from '../common/messages';
import { fleetSlotsWorkflowId } from '../common/workflow-ids';

/** The deployment's cap on concurrent runs, as a cpu worker is configured; absent: no cap. */
export interface FleetCap {
  /** `RETRAIN_MAX_CONCURRENT_RUNS`. */
  maxConcurrentRuns: number;
  /** How often (ms) a coordinator this worker starts checks for runs that ended without releasing; tests shorten it. */
  checkEveryMs?: number;
}

/**
 * `requestFleetSlot`: asks the deployment's fleet-slots coordinator (on this worker's task queue,
 * started if none runs) for a slot for the run `entry`, with this worker's cap. Answers
 * `{ capped: false }` without asking anyone when no cap is configured.
 */
export function createRequestFleetSlot(cap: FleetCap | undefined) {
  return async (entry: QueueEntry): Promise<FleetSlotAnswer> => {
    if (cap === undefined) return { capped: false };
    const { client, info } = Context.current();
    const coordinator = fleetSlotsWorkflowId(info.taskQueue);
    const capacity = cap.maxConcurrentRuns;
    const input: FleetSlotsInput = {
      capacity,
      ...(cap.checkEveryMs === undefined ? {} : { checkEveryMs: cap.checkEveryMs }),
    };
    const request: SlotRequest = { ...entry, capacity };
    await client.workflow.signalWithStart(FLEET_SLOTS_WORKFLOW, {
      workflowId: coordinator,
      taskQueue: info.taskQueue,
      args: [input],
      signal: slotRequestSignal,
      signalArgs: [request],
      staticSummary: `at most ${capacity} retrain runs at once`,
    });
    return { capped: true, capacity };
  };
}

/** Which of `workflowIds` still run (status RUNNING); the others ended, whichever way, or never ran. */
export async function runningRuns({ workflowIds }: { workflowIds: string[] }): Promise<string[]> {
  const { client } = Context.current();
  const running = await Promise.all(
    workflowIds.map((id) =>
      client.workflow
        .getHandle(id)
        .describe()
        .then(
          (d) => d.status.name === 'RUNNING',
          (err: unknown) => {
            if (err instanceof WorkflowNotFoundError) return false;
            throw err;
          },
        ),
    ),
  );
  return workflowIds.filter((_, i) => running[i]);
}
