import type { QueueEntry, QueuePlace } from '../common/admission';

/** Priority first (1 is highest), then who queued first, then the id: a total order, the same on every replay. */
function before(a: QueueEntry, b: QueueEntry): number {
  return (
    a.priority - b.priority ||
    a.queuedAt.localeCompare(b.queuedAt) ||
    a.workflowId.localeCompare(b.workflowId)
  );
}

/**
 * The runs waiting for one model, in the order they will start. Adding an entry that is there
 * already updates it (a run re-announcing itself keeps one place). Tells which places changed, so the
 * lease signals only the runs whose place moved.
 */
export class RunQueue {
  private entries: QueueEntry[] = [];
  /** What each run was last told: `position/waiting@holder`. */
  private readonly told = new Map<string, string>();

  constructor(initial: readonly QueueEntry[] = []) {
    for (const entry of initial) this.add(entry);
  }

  get size(): number {
    return this.entries.length;
  }

  /** A copy of the queue, first to start first. */
  list(): QueueEntry[] {
    return [...this.entries];
  }

  add(entry: QueueEntry): void {
    this.entries = [...this.entries.filter((e) => e.workflowId !== entry.workflowId), entry].sort(before);
  }

  /** Takes `workflowId` out; whether it was there. */
  remove(workflowId: string): boolean {
    const size = this.entries.length;
    this.entries = this.entries.filter((e) => e.workflowId !== workflowId);
    this.told.delete(workflowId);
    return this.entries.length < size;
  }

  /** Takes the first run out of the queue. */
  shift(): QueueEntry | undefined {
    const first = this.entries.shift();
    if (first) this.told.delete(first.workflowId);
    return first;
  }

  /** Each run whose place (position, queue length or holder) differs from what it was last told, now counted as told. */
  changedPlaces(holder: string): [string, QueuePlace][] {
    const changed: [string, QueuePlace][] = [];
    this.entries.forEach(({ workflowId, priority, queuedAt }, i) => {
      const place: QueuePlace = { position: i + 1, waiting: this.entries.length, priority, queuedAt, holder };
      const key = `${place.position}/${place.waiting}@${holder}`;
      if (this.told.get(workflowId) === key) return;
      this.told.set(workflowId, key);
      changed.push([workflowId, place]);
    });
    return changed;
  }
}
