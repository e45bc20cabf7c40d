/**
 * Runs `serve` with a signal that aborts on SIGINT or SIGTERM, for commands that run until stopped
 * (the bridges); the handlers are removed once it returns.
 */
export async function untilSignalled(serve: (signal: AbortSignal) => Promise<void>): Promise<void> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await serve(controller.signal);
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
