import { CorruptArtefactError } from '../common/errors';

/** Thrown by a conditional put when the key already exists (`ifNoneMatch`) or changed since it was read (`ifMatch`). */
export class PreconditionFailedError extends Error {
  override readonly name = 'PreconditionFailedError';

  constructor(
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`precondition failed for "${key}": it already exists or another writer changed it`, options);
  }
}

/** What a store was doing when {@link BlobIoError} was thrown. */
export type BlobOperation = 'read' | 'write' | 'list' | 'delete';

/**
 * Thrown by a store when the I/O itself fails (no permission, a missing bucket, a full disk, the
 * network): names the operation and the object's URI, so the store, bucket and key. A failed write
 * left the key as it was. Not a condition failure ({@link PreconditionFailedError}) and retryable as
 * far as the store knows.
 */
export class BlobIoError extends Error {
  override readonly name = 'BlobIoError';

  constructor(
    readonly operation: BlobOperation,
    readonly uri: string,
    options: { cause: unknown },
  ) {
    super(`could not ${operation} ${uri}: ${reasonOf(options.cause)}`, options);
  }
}

/**
 * Runs one store operation; a failure becomes a {@link BlobIoError} naming `operation` and `uri`,
 * except the store's own errors (conditions, keys, corrupt objects) and those `keep` picks, which
 * callers branch on and which pass unchanged.
 */
export async function guardIo<T>(
  operation: BlobOperation,
  uri: string,
  call: () => Promise<T>,
  keep: (err: unknown) => boolean = () => false,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const own =
      err instanceof PreconditionFailedError ||
      err instanceof InvalidKeyError ||
      err instanceof CorruptBlobError ||
      err instanceof BlobIoError;
    if (own || keep(err)) throw err;
    throw new BlobIoError(operation, uri, { cause: err });
  }
}

/** The most telling text of an I/O error: its message, else its code or name (Node's ECONNREFUSED may have no message). */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as NodeJS.ErrnoException).code;
  const label = err.name !== 'Error' ? err.name : code;
  if (err.message === '') return label ?? 'unknown error';
  return label && !err.message.includes(label) ? `${err.message} (${label})` : err.message;
}

/** Thrown before any I/O when a key or prefix is empty, absolute, climbs with `..` or names a store-internal file. */
export class InvalidKeyError extends Error {
  override readonly name = 'InvalidKeyError';

  constructor(
    readonly key: string,
    reason: string,
  ) {
    super(`invalid blob key ${JSON.stringify(key)}: ${reason}`);
  }
}

/**
 * Thrown by `getJson` when a stored object is not JSON or does not match its schema. A non-retryable
 * CorruptArtefact failure: an activity that reads it fails at once, a retry would read the same bytes.
 */
export class CorruptBlobError extends CorruptArtefactError {
  override readonly name = 'CorruptBlobError';

  constructor(
    readonly uri: string,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`${uri} ${reason}`, options);
  }
}

/** Names starting with this are the file store's temp and lock files; refused everywhere so keys mean the same in every store. */
export const RESERVED_NAME_PREFIX = '.retrain-';

/** Throws {@link InvalidKeyError} unless `key` is relative, `/`-separated, without empty, `.`, `..` or reserved segments. */
export function assertValidKey(key: string): void {
  if (key === '') throw new InvalidKeyError(key, 'it is empty');
  assertValidSegments(key, key.split('/'));
}

/** Like {@link assertValidKey}, but `''` (everything) and a trailing `/` are allowed. */
export function assertValidPrefix(prefix: string): void {
  const segments = prefix.split('/');
  if (segments.at(-1) === '') segments.pop();
  if (prefix !== '') assertValidSegments(prefix, segments);
}

function assertValidSegments(key: string, segments: string[]): void {
  if (key.startsWith('/')) throw new InvalidKeyError(key, 'it is absolute');
  if (/[\\\0]/.test(key)) throw new InvalidKeyError(key, 'it contains a backslash or NUL');
  for (const segment of segments) {
    if (segment === '' || segment === '.' || segment === '..') {
      throw new InvalidKeyError(key, 'it has an empty, "." or ".." segment');
    }
    if (segment.startsWith(RESERVED_NAME_PREFIX)) {
      throw new InvalidKeyError(key, `names starting with "${RESERVED_NAME_PREFIX}" are reserved`);
    }
  }
}
