import {
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  log,
  patched,
  setHandler,
  setWorkflowOptions,
  workflowInfo,
} from '@temporalio/workflow';
import { FLEET_CHECK_EVERY_MS, type FleetSlotsInput } from '../common/fleet-slots';
import {
  fleetSlotsQuery,
  queuePlaceSignal,
  slotGrantedSignal,
  slotReleaseSignal,
  slotRequestSignal,
} from '../common/messages';
import { cpuActivities } from './cpu-activities';
import { delivered } from './delivered';
import { rethrowUnlessFailure } from './failures';
import { FleetSlotBook } from './fleet-slot-book';

const cpu = cpuActivities();

/** History length past which the coordinator continues as new even if the server does not suggest it yet. */
const MAX_HISTORY_EVENTS = 10_000;

/** Patch: a signal that arrives during a check for ended runs is no longer forgotten. */
const KEEP_CHANGES_DURING_CHECK = 'keep-changes-during-check';

const run = (workflowId: string) => getExternalWorkflowHandle(workflowId);

/**
 * The deployment's cap on concurrent runs, `retrain-fleet-slots` (see common/workflow-ids): runs that
 * hold their model ask it for a slot (`slotRequestSignal`, through the `requestFleetSlot` activity's
 * signal-with-start), and it grants free slots (`slotGrantedSignal`) in the order of a model's queue:
 * priority, then who asked first. Each waiting run is told its place (`queuePlaceSignal`) whenever it
 * moves. A run releases its slot when it ends (`slotReleaseSignal`); one that ends without releasing (a
 * terminate) is found every `checkEveryMs` by asking Temporal which of the runs still run, and its slot
 * goes to the next. It ends at a check where no run holds or waits (the next request starts it again),
 * and continues as new with its state when its history grows long.
 */
export async function fleetSlotsWorkflow(input: FleetSlotsInput): Promise<void> {
  const checkEveryMs = input.checkEveryMs ?? FLEET_CHECK_EVERY_MS;
  const book = new FleetSlotBook(input);
  /** Holders that asked again (their grant may have been lost): told again. */
  const regrant = new Set<string>();
  let changed = true;
  setHandler(fleetSlotsQuery, () => book.snapshot());
  setHandler(slotRequestSignal, (request) => {
    if (book.request(request) === 'holds') regrant.add(request.workflowId);
    changed = true;
  });
  setHandler(slotReleaseSignal, ({ workflowId }) => {
    regrant.delete(workflowId);
    if (book.release(workflowId)) changed = true;
  });
  let nextCheck = Date.now() + checkEveryMs;
  for (;;) {
    if (changed) {
      changed = false;
      // A run that can no longer be told is gone: its slot or place is freed at once.
      for (const gone of await tell(book, regrant)) changed = book.release(gone) || changed;
      continue;
    }
    if (Date.now() >= nextCheck) {
      if (book.idle) return;
      const dropped = await dropEnded(book);
      // A release or request that arrived during the check set `changed` meanwhile: it is kept.
      // (Coordinators recorded before the fix overwrote it, and replay so.)
      changed = patched(KEEP_CHANGES_DURING_CHECK) ? changed || dropped : dropped;
      nextCheck = Date.now() + checkEveryMs;
      continue;
    }
    const { continueAsNewSuggested, historyLength } = workflowInfo();
    if (continueAsNewSuggested || historyLength > MAX_HISTORY_EVENTS) {
      await condition(allHandlersFinished);
      await continueAsNew<typeof fleetSlotsWorkflow>({ ...book.snapshot(), checkEveryMs });
    }
    await condition(() => changed, Math.max(1, nextCheck - Date.now()));
  }
}

/** Grants the free slots and tells every run whose place moved; returns the runs that could not be told. */
async function tell(book: FleetSlotBook, regrant: Set<string>): Promise<string[]> {
  const gone: string[] = [];
  for (const workflowId of [...regrant]) {
    regrant.delete(workflowId);
    if (!(await delivered(run(workflowId).signal(slotGrantedSignal)))) gone.push(workflowId);
  }
  for (const { workflowId } of book.grant())
    if (!(await delivered(run(workflowId).signal(slotGrantedSignal)))) gone.push(workflowId);
  for (const [workflowId, place] of book.changedPlaces())
    if (!(await delivered(run(workflowId).signal(queuePlaceSignal, place)))) gone.push(workflowId);
  return gone;
}

/** Forgets the holders and waiting runs that ended without releasing; whether any were. */
async function dropEnded(book: FleetSlotBook): Promise<boolean> {
  const checked = book.runs();
  if (checked.length === 0) return false;
  try {
    const dropped = book.dropEnded(checked, await cpu.runningRuns({ workflowIds: checked }));
    if (dropped.length > 0) log.info('runs ended without releasing their slot', { workflowIds: dropped });
    return dropped.length > 0;
  } catch (err) {
    // Temporal did not answer for a while: the next check asks again.
    rethrowUnlessFailure(err);
    log.warn('could not check which runs still run', { error: err.message });
    return false;
  }
}

// Runs for as long as the deployment does: it moves to each new build at its next workflow task
// rather than keeping a drained one alive (changes to it go behind `patched`).
setWorkflowOptions({ versioningBehavior: 'AUTO_UPGRADE' }, fleetSlotsWorkflow);
