import path from 'node:path';
import { RESERVED_NAME_PREFIX } from '../../storage/errors';
import { acquireFileLock, type FileLock } from '../../storage/file-lock';

/**
 * Takes the per-key lock a file store's replacing writes of `key` hold (beside the key, as
 * storage/file-store.ts names it), as another writer in the middle of its write would: an activity
 * replacing `key` then waits, observably in progress, until the lock is released.
 */
export function holdFileStoreKey(storeRoot: string, key: string): Promise<FileLock> {
  const file = path.join(storeRoot, key);
  return acquireFileLock(path.join(path.dirname(file), `${RESERVED_NAME_PREFIX}lock-${path.basename(file)}`));
}
