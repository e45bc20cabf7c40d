/**
 * Bounds a graceful stop: once armed (on the first SIGTERM or SIGINT), the process exits with status 1
 * after `graceMs` if it has not ended by itself, logging what was still running. A stop can wait on
 * things outside the process (a request body that never ends, a Redis or S3 that went away, a sink
 * that does not answer); the supervisor's SIGKILL would end it anyway, without the log line.
 */
export function armShutdownDeadline(
  graceMs: number,
  log: (message: string) => void,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  const timer = setTimeout(() => {
    log(`still stopping ${graceMs / 1000} s after the signal (RETRAIN_SHUTDOWN_GRACE_SECONDS): exiting`);
    exit(1);
  }, graceMs);
  // The deadline alone never keeps the process alive: a stop that finishes ends it as before.
  timer.unref();
}
