/** A task run again and again by {@link repeatEvery}, until stopped. */
export interface Repeating {
  /** Settles when the first run has (successfully or not). */
  readonly first: Promise<void>;
  /** Cancels the next run and waits for one in progress to end. */
  stop(): Promise<void>;
}

/**
 * Runs `task` now, then `everyMs` after each run ends: runs never overlap, however long one takes.
 * A run that throws is handed to `onError` and the next one runs as planned. The timer does not
 * keep the process alive.
 */
export function repeatEvery(
  task: () => Promise<void>,
  everyMs: number,
  onError: (err: unknown) => void,
): Repeating {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const run = (): Promise<void> => {
    running = task()
      .catch(onError)
      .finally(() => {
        if (stopped) return;
        timer = setTimeout(run, everyMs);
        timer.unref();
      });
    return running;
  };
  const first = run();
  return {
    first,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
