/** How many ended runs' answers a server keeps: the runs table's 20 and the ones people open, many times over. */
export const ENDED_RUNS_KEPT = 500;

/**
 * Answers about ended runs, kept: an ended run never changes, and asking one (a query) replays its
 * whole history on a worker. The first read of a run is shared by every request that asks while it
 * is under way; its answer is kept for good (the `capacity` most recently read), a failed read or an
 * answer `keep` refuses (a query no worker answered) not at all. Key by workflow id and run id: a
 * workflow id started again is another run.
 */
export class EndedRunCache<T> {
  private readonly kept = new Map<string, Promise<T>>();

  constructor(private readonly capacity = ENDED_RUNS_KEPT) {}

  /** The kept answer for `key`, or `read()`'s, kept when `keep` says so. */
  get(key: string, read: () => Promise<T>, keep: (answer: T) => boolean = () => true): Promise<T> {
    const found = this.kept.get(key);
    if (found) {
      // Most recently read last: the first in the map is the one to drop.
      this.kept.delete(key);
      this.kept.set(key, found);
      return found;
    }
    const reading = read();
    this.kept.set(key, reading);
    const drop = () => {
      if (this.kept.get(key) === reading) this.kept.delete(key);
    };
    reading.then((answer) => {
      if (!keep(answer)) drop();
    }, drop);
    for (const oldest of this.kept.keys()) {
      if (this.kept.size <= this.capacity) break;
      this.kept.delete(oldest);
    }
    return reading;
  }
}
