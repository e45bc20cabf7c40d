import type { ModelSpec } from './model-spec';
import type { QueueEntry } from './admission';

/** The coordinator's workflow type, as activities start it by name (they may not import workflows/). */
export const FLEET_SLOTS_WORKFLOW = 'fleetSlotsWorkflow';

/** How often (ms) the coordinator checks that its holders and waiting runs still run, unless told otherwise. */
export const FLEET_CHECK_EVERY_MS = 60_000;

/** Input of the fleet-slots coordinator: the cap, and the state a continue-as-new carries on. */
export interface FleetSlotsInput {
  /** Runs that may hold a slot at once. */
  capacity: number;
  /** Workflow ids of the runs holding a slot. */
  holders?: string[];
  /** Runs waiting for a slot, in any order (the coordinator orders them). */
  waiting?: QueueEntry[];
  /** How often (ms) it drops holders and waiting runs that ended without releasing; default {@link FLEET_CHECK_EVERY_MS}. */
  checkEveryMs?: number;
}

/** A run asking for a slot, with the cap its worker is configured with (the latest request's wins). */
export interface SlotRequest extends QueueEntry {
  capacity: number;
}

/** What `requestFleetSlot` answers: no cap, or the cap it asked the coordinator for a slot under. */
/** What a run reads before its admission (`loadRunSettings`): its spec, and whether the deployment caps runs. */
export interface RunSettings {
  spec: ModelSpec;
  /** A cap (`RETRAIN_MAX_CONCURRENT_RUNS`) is configured: the run takes a slot once it holds its model. */
  fleetCapped: boolean;
}

export type FleetSlotAnswer = { capped: false } | { capped: true; capacity: number };

/** What `fleetSlotsQuery` answers: the cap, the runs holding a slot, and the runs waiting, next first. */
export interface FleetSlots {
  capacity: number;
  holders: string[];
  waiting: QueueEntry[];
}

/** The `holder` a run waiting for a slot is told: it waits behind the cap, not behind one run. */
export function fleetCapHolder(capacity: number): string {
  return `the deployment's ${capacity}-run cap`;
}
