import path from 'node:path';

import { z } from 'zod';

import type { BlobStore, PutOptions } from './blob-store';
import { CorruptBlobError } from './errors';
import { FileBlobStore } from './file-store';
import { S3BlobStore } from './s3-store';

/** S3 connection settings that `s3://` store URIs need; config/config builds them from the environment. */
export interface S3Settings {
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Opens the store a `RETRAIN_STORE` URI names: `file://<dir>` (relative to the working directory, or
 * absolute as in `file:///abs/dir`) or `s3://<bucket>[/prefix]`, which also needs `s3`.
 */
export function openBlobStore(uri: string, s3?: S3Settings): BlobStore {
  if (uri.startsWith('file://')) {
    const dir = uri.slice('file://'.length);
    if (dir === '')
      throw new Error(`invalid store URI "${uri}": expected file://<dir>, e.g. file://.data/store`);
    return new FileBlobStore(path.resolve(dir));
  }
  if (uri.startsWith('s3://')) {
    const { bucket, prefix } = s3Location(uri);
    if (!s3) throw new Error(`store URI "${uri}" needs S3 settings (region, endpoint, credentials)`);
    return new S3BlobStore({ ...s3, bucket, prefix });
  }
  throw new Error(`unsupported store URI "${uri}": expected file://<dir> or s3://<bucket>[/prefix]`);
}

/** The bucket and key prefix of an `s3://<bucket>[/prefix]` store URI; throws naming a bad bucket name. */
export function s3Location(uri: string): { bucket: string; prefix: string } {
  const [bucket = '', ...prefix] = uri.slice('s3://'.length).replace(/\/+$/, '').split('/');
  if (!BUCKET.test(bucket))
    throw new Error(`invalid store URI "${uri}": "${bucket}" is not an S3 bucket name`);
  return { bucket, prefix: prefix.join('/') };
}

/**
 * {@link openBlobStore} for a process that is starting: an S3 store is first checked once to honour
 * conditional writes (create-only and compare-and-swap), so a server that ignores them stops start-up
 * with a message naming it, instead of letting two writers race later.
 */
export async function openCheckedBlobStore(uri: string, s3?: S3Settings): Promise<BlobStore> {
  const store = openBlobStore(uri, s3);
  if (store instanceof S3BlobStore) await store.verifyConditionalWrites();
  return store;
}

/** Writes `value` as pretty JSON, so registry files (specs, aliases, metadata) stay readable by people. */
export function putJson(
  store: BlobStore,
  key: string,
  value: unknown,
  options: Omit<PutOptions, 'contentType'> = {},
): Promise<{ etag: string }> {
  return store.put(key, `${JSON.stringify(value, null, 2)}\n`, {
    ...options,
    contentType: 'application/json',
  });
}

/**
 * Reads and validates a JSON object, with the ETag to compare-and-swap it later; `undefined` when the key
 * does not exist. Throws {@link CorruptBlobError} naming the key when the content is not JSON or not the schema.
 */
export async function getJson<Schema extends z.ZodType>(
  store: BlobStore,
  key: string,
  schema: Schema,
): Promise<{ value: z.output<Schema>; etag: string } | undefined> {
  const blob = await store.get(key);
  if (!blob) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(blob.body));
  } catch (err) {
    throw new CorruptBlobError(store.uriFor(key), 'is not valid JSON', { cause: err });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    throw new CorruptBlobError(
      store.uriFor(key),
      `does not match its schema:\n${z.prettifyError(parsed.error)}`,
    );
  }
  return { value: parsed.data, etag: blob.etag };
}
