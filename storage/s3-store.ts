import {
  DeleteObjectCommand,
  GetObjectCommand,
  NoSuchKey,
  paginateListObjectsV2,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';

import type { BlobStore, PutOptions, StoredBlob } from './blob-store';
import { assertValidKey, assertValidPrefix, PreconditionFailedError } from './errors';

/** Where and as whom an {@link S3BlobStore} connects; passed in from workers/config, never read from the environment here. */
export interface S3StoreOptions {
  bucket: string;
  /** Key prefix inside the bucket, without leading or trailing `/`. @default '' (the bucket root) */
  prefix?: string;
  region: string;
  /** An S3-compatible server such as MinIO, e.g. `http://127.0.0.1:9000`; AWS S3 when absent. */
  endpoint?: string;
  /** Give both keys, or neither to use the SDK's default provider chain (e.g. an instance role). */
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** Blob store on an S3 bucket (`s3://`) for shared deployments; conditions map to S3's `If-None-Match` and `If-Match`. */
export class S3BlobStore implements BlobStore {
  readonly uri: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly client: S3Client;

  constructor(options: S3StoreOptions) {
    const { bucket, prefix = '', region, endpoint, accessKeyId, secretAccessKey } = options;
    if (prefix !== '') assertValidKey(prefix);
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      throw new Error(`S3 store s3://${bucket}: give both accessKeyId and secretAccessKey, or neither`);
    }
    this.bucket = bucket;
    this.prefix = prefix;
    this.uri = prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`;
    this.client = new S3Client({
      region,
      endpoint,
      forcePathStyle: true,
      credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
    });
  }

  uriFor(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    try {
      const res = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      if (!res.Body || !res.ETag)
        throw new Error(`S3 answered without a body or ETag for ${this.uriFor(key)}`);
      return { body: await res.Body.transformToByteArray(), etag: res.ETag };
    } catch (err) {
      // Only a missing key: a missing bucket (also 404) must not read as an empty store.
      if (err instanceof NoSuchKey) return undefined;
      throw err;
    }
  }

  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<{ etag: string }> {
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          Body: body,
          ContentType: options.contentType,
          IfNoneMatch: options.ifNoneMatch,
          IfMatch: options.ifMatch,
        }),
      );
      if (!res.ETag) throw new Error(`S3 answered without an ETag for ${this.uriFor(key)}`);
      return { etag: res.ETag };
    } catch (err) {
      if (isConditionFailure(err, options)) throw new PreconditionFailedError(key, { cause: err });
      throw err;
    }
  }

  async list(prefix: string): Promise<string[]> {
    assertValidPrefix(prefix);
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    const keys: string[] = [];
    const pages = paginateListObjectsV2(
      { client: this.client },
      { Bucket: this.bucket, Prefix: base + prefix },
    );
    for await (const page of pages) {
      for (const { Key } of page.Contents ?? []) if (Key !== undefined) keys.push(Key.slice(base.length));
    }
    return keys.sort();
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }
}

/**
 * 412: the condition was false. 409 ConditionalRequestConflict: a concurrent conditional write won the race.
 * NoSuchKey with `ifMatch`: the object to compare against is gone.
 */
function isConditionFailure(err: unknown, options: PutOptions): boolean {
  if (!(err instanceof S3ServiceException)) return false;
  if (err.$metadata.httpStatusCode === 412 || err.name === 'ConditionalRequestConflict') return true;
  return err.name === 'NoSuchKey' && options.ifMatch !== undefined;
}
