import fs from 'node:fs';
import path from 'node:path';
import type { BlobStore } from './blob-store';
import { duckDbVersion, useS3Reads } from './duckdb';
import type { S3Reads } from './duckdb-remote';
import { S3BlobStore } from './s3-store';

/**
 * How readers of the buffer in the store get its parts (`RETRAIN_BUFFER_READS`): `s3`, DuckDB reads
 * them over S3 (its httpfs extension); `cache`, from local copies downloaded once; `auto`, over S3
 * when the store is on S3 with keys and httpfs is installed, else from copies.
 */
export const BUFFER_READS = ['auto', 's3', 'cache'] as const;
export type BufferReads = (typeof BUFFER_READS)[number];

/** Settings that decide {@link s3ReadsFor}. */
export interface BufferReadSettings {
  bufferReads?: BufferReads;
  /** `RETRAIN_DUCKDB_EXTENSION_DIR`: extensions under `v<duckdb version>/`, as scripts/setup.js installs them. */
  duckdbExtensionDir?: string;
}

/** `<dir>/v<version>/httpfs.duckdb_extension`, the file scripts/lib/duckdb-httpfs.js installs. */
export function httpfsExtensionPath(dir: string): string {
  return path.join(dir, duckDbVersion(), 'httpfs.duckdb_extension');
}

/**
 * Whether this process's buffer readers query the store's parts over S3, and how; undefined: from
 * local copies. `s3` that cannot be honoured is an error naming what is missing. Turns the reads on
 * for every DuckDB session of the process when it answers.
 */
export function s3ReadsFor(store: BlobStore, settings: BufferReadSettings): S3Reads | undefined {
  const mode = settings.bufferReads ?? 'auto';
  if (mode === 'cache') return undefined;
  const found = readsOf(store, settings.duckdbExtensionDir);
  if (typeof found === 'string') {
    if (mode === 's3') throw new Error(`RETRAIN_BUFFER_READS=s3 cannot read the buffer over S3: ${found}`);
    return undefined;
  }
  useS3Reads(found);
  return found;
}

/** The reads `store` allows, or why none. */
function readsOf(store: BlobStore, extensionDir: string | undefined): S3Reads | string {
  if (!(store instanceof S3BlobStore)) return `the store ${store.uri} is not on S3`;
  const { region, endpoint, accessKeyId, secretAccessKey } = store.connection();
  if (!accessKeyId || !secretAccessKey)
    return 'the store has no S3 keys (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) for DuckDB to sign with';
  const extension = extensionDir && httpfsExtensionPath(extensionDir);
  if (!extension || !fs.existsSync(extension))
    return `DuckDB's httpfs extension is not installed at ${extension ?? 'RETRAIN_DUCKDB_EXTENSION_DIR'} (node scripts/setup.js duckdb-httpfs)`;
  return { extension, s3: { region, ...(endpoint ? { endpoint } : {}), accessKeyId, secretAccessKey } };
}
