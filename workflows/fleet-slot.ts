import {
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { QueueEntry, QueuePlace } from '../common/admission';
import { queuePlaceSignal, slotGrantedSignal, slotReleaseSignal } from '../common/messages';
import { fleetSlotsWorkflowId } from '../common/workflow-ids';
import { cpuActivities } from './cpu-activities';
import { delivered } from './delivered';

const cpu = cpuActivities();

/**
 * How long a run waits for its slot before it asks again: a coordinator that was terminated, or lost
 * the run, learns of it again, and a lost grant is sent again.
 */
const ASK_AGAIN_EVERY = '1 minute';

/** A slot of the deployment's cap, held until released (a no-op when there is no cap). */
export interface FleetSlot {
  release(): Promise<void>;
}

const NO_CAP: FleetSlot = { release: async () => undefined };

/**
 * Takes one of the deployment's run slots (`RETRAIN_MAX_CONCURRENT_RUNS`, see ./fleet-slots-workflow)
 * for this run, at `priority`: at once when there is no cap or a slot is free, else once the slots
 * ahead of it are released, telling `queued` each place it is given meanwhile. A cancel while waiting
 * takes the run out of the slot queue and is rethrown.
 */
export async function takeFleetSlot(
  priority: number,
  queued: (place: QueuePlace) => void,
): Promise<FleetSlot> {
  const { workflowId } = workflowInfo();
  const entry: QueueEntry = { workflowId, priority, queuedAt: new Date().toISOString() };
  let granted = false;
  setHandler(slotGrantedSignal, () => {
    granted = true;
  });
  // The model's queue no longer writes to a run that holds the model: places now come from the slots.
  setHandler(queuePlaceSignal, (place) => {
    if (!granted) queued(place);
  });
  // The coordinator polls the run's own task queue, where the cpu worker that answers runs.
  const coordinator = getExternalWorkflowHandle(fleetSlotsWorkflowId(workflowInfo().taskQueue));
  const release = async () => {
    await CancellationScope.nonCancellable(() =>
      delivered(coordinator.signal(slotReleaseSignal, { workflowId })),
    );
  };
  try {
    if (!(await cpu.requestFleetSlot(entry)).capped) return NO_CAP;
    while (!(await condition(() => granted, ASK_AGAIN_EVERY))) await cpu.requestFleetSlot(entry);
  } catch (err) {
    // Cancelled while asking (the request may have reached the coordinator) or while waiting.
    if (isCancellation(err)) await release();
    throw err;
  }
  return { release };
}
