/**
 * One call per key at a time: a caller asking for a key whose call is under way shares its promise
 * (its value or its failure) rather than starting another; settled, the key is free again. For reads
 * that many requests ask at once (a version's metadata, a live report), so each runs once.
 */
export class SingleFlight<T> {
  private readonly running = new Map<string, Promise<T>>();

  /** `start()`'s promise, or the one already under way for `key`. */
  run(key: string, start: () => Promise<T>): Promise<T> {
    const found = this.running.get(key);
    if (found) return found;
    const started = start();
    this.running.set(key, started);
    const done = () => this.running.delete(key);
    started.then(done, done);
    return started;
  }
}
