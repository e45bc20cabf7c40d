import path from 'node:path';

import { LockTimeoutError, withFileLock } from './file-lock';

/** The lock inside a model's buffer directory; not matched by the `day=*` glob. */
export const LOCK_FILE = '.lock';
/** How long a writer waits for another, live one before giving up. */
const WAIT_LIMIT_MS = 10 * 60_000;

/**
 * Runs `critical` while holding the write lock of one model's buffer directory, so the
 * "skip rows already in the buffer" check and the write that follows are one step, also when the
 * CLI and the inference server ingest into the same model at once. A writer that died (also in a
 * container restarted under the same hostname and pid) is taken over once its heartbeat is stale.
 */
export async function withBufferLock<T>(dir: string, critical: () => Promise<T>): Promise<T> {
  const lockPath = path.join(dir, LOCK_FILE);
  try {
    return await withFileLock(lockPath, critical, { waitLimitMs: WAIT_LIMIT_MS });
  } catch (err) {
    if (err instanceof LockTimeoutError) {
      throw new Error(`The buffer ${dir} is locked by ${err.holder} (${lockPath})`, { cause: err });
    }
    throw err;
  }
}
