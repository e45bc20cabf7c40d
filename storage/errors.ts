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

/** Thrown by `getJson` when a stored object is not JSON or does not match its schema. */
export class CorruptBlobError extends Error {
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
