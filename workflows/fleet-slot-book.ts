import type { QueueEntry, QueuePlace } from '../common/admission';
import {
  fleetCapHolder,
  type FleetSlots,
  type FleetSlotsInput,
  type SlotRequest,
} from '../common/fleet-slots';
import { RunQueue } from './run-queue';

/**
 * The deployment's run slots: who holds one, who waits (in a {@link RunQueue}: priority, then FIFO),
 * and the cap. Pure bookkeeping; the coordinator workflow does the signalling.
 */
export class FleetSlotBook {
  private cap: number;
  private readonly holders: Set<string>;
  private readonly queue: RunQueue;

  constructor({ capacity, holders = [], waiting = [] }: FleetSlotsInput) {
    this.cap = capacity;
    this.holders = new Set(holders);
    this.queue = new RunQueue(waiting);
  }

  get capacity(): number {
    return this.cap;
  }

  /** A run asks for a slot: it waits for one, or, holding one already (its grant was lost), is told so again. */
  request({ capacity, ...entry }: SlotRequest): 'holds' | 'waits' {
    this.cap = capacity;
    if (this.holders.has(entry.workflowId)) return 'holds';
    this.queue.add(entry);
    return 'waits';
  }

  /** A run frees its slot or leaves the queue; whether it held or waited. */
  release(workflowId: string): boolean {
    return this.holders.delete(workflowId) || this.queue.remove(workflowId);
  }

  /** Hands free slots to the first waiting runs: those now holding one, to be told. */
  grant(): QueueEntry[] {
    const granted: QueueEntry[] = [];
    while (this.holders.size < this.cap) {
      const next = this.queue.shift();
      if (next === undefined) break;
      this.holders.add(next.workflowId);
      granted.push(next);
    }
    return granted;
  }

  /** Every run the book knows, holding or waiting: those to check are still running. */
  runs(): string[] {
    return [...this.holders, ...this.queue.list().map((e) => e.workflowId)];
  }

  /** Forgets the runs of `checked` that are not `running` (they ended without releasing); those it forgot. */
  dropEnded(checked: readonly string[], running: readonly string[]): string[] {
    const alive = new Set(running);
    return checked.filter((id) => !alive.has(id) && this.release(id));
  }

  /** Each waiting run whose place changed since it was last told. */
  changedPlaces(): [string, QueuePlace][] {
    return this.queue.changedPlaces(fleetCapHolder(this.cap));
  }

  /** Nobody holds a slot and nobody waits. */
  get idle(): boolean {
    return this.holders.size === 0 && this.queue.size === 0;
  }

  /** The state, JSON-plain: what the query answers and what a continue-as-new carries on. */
  snapshot(): FleetSlots {
    return { capacity: this.cap, holders: [...this.holders], waiting: this.queue.list() };
  }
}
