import { armShutdownDeadline } from '../config/shutdown-deadline';

/**
 * Runs `serve` with a signal that aborts on SIGINT or SIGTERM, for commands that run until stopped
 * (the bridges); the handlers are removed once it returns. The stop is bounded: `graceMs` after the
 * signal the process exits anyway ({@link armShutdownDeadline}), whatever `serve` still waits on.
 */
export async function untilSignalled(
  serve: (signal: AbortSignal) => Promise<void>,
  graceMs: number,
  log: (message: string) => void,
): Promise<void> {
  const controller = new AbortController();
  const stop = () => {
    if (controller.signal.aborted) return;
    armShutdownDeadline(graceMs, log);
    controller.abort();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await serve(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
