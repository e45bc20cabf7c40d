/** A stored object: its bytes and the entity tag that conditional writes compare against. */
export interface StoredBlob {
  body: Uint8Array;
  etag: string;
}

/** Conditions for {@link BlobStore.put}; at most one may be given. */
export interface PutOptions {
  /** `'*'`: create only if the key does not exist yet (S3 `If-None-Match: *`). */
  ifNoneMatch?: '*';
  /** Replace only if the current entity tag equals this one (S3 `If-Match`): compare-and-swap. */
  ifMatch?: string;
  contentType?: string;
}

/**
 * One interface over the embedded filesystem store (`file://`) and S3 (`s3://`).
 * Keys are relative, `/`-separated, never start with `/` and never contain `..`.
 */
export interface BlobStore {
  /** The store's URI without credentials, e.g. `file:///abs/dir` or `s3://bucket/prefix`. */
  readonly uri: string;
  /** `undefined` when the key does not exist. */
  get(key: string): Promise<StoredBlob | undefined>;
  /** Writes the whole object atomically; throws {@link PreconditionFailedError} when a condition fails. */
  put(key: string, body: Uint8Array | string, options?: PutOptions): Promise<{ etag: string }>;
  /** Every key under `prefix` (recursively), sorted. */
  list(prefix: string): Promise<string[]>;
  /**
   * The immediate "folders" under `prefix` that hold at least one key, each as a prefix ending in `/`,
   * sorted: `listPrefixes('models/')` gives `['models/a/', 'models/b/']` however many keys lie below
   * them (S3's ListObjectsV2 with Delimiter `/`). For listings whose cost must not grow with what the
   * folders hold.
   */
  listPrefixes(prefix: string): Promise<string[]>;
  /** Removes the key; removing a missing key is not an error. */
  delete(key: string): Promise<void>;
  /** Full URI of a key, for manifests and logs. */
  uriFor(key: string): string;
}
