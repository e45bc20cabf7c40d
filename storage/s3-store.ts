import { randomUUID } from 'node:crypto';

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
import { assertValidKey, assertValidPrefix, guardIo, PreconditionFailedError } from './errors';

/** Where and as whom an {@link S3BlobStore} connects; passed in from config/config, never read from the environment here. */
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
  /** Gives up on a TCP connect that takes longer, so an unreachable server fails fast and is retried. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Gives up on a request whose socket sends and receives nothing for this long: a hung server (accepted,
   * never answers) fails the request, retryably, instead of blocking the activity; the SDK has no such
   * limit by default. Inactivity, not duration, so large uploads are not cut short. @default 30000
   */
  idleTimeoutMs?: number;
}

/** Probe objects of {@link S3BlobStore.verifyConditionalWrites} live (briefly) under this prefix of the store. */
const PROBE_PREFIX = 'conditional-write-probe';
/** An entity tag no object has: quoted like S3's, but not the MD5 of anything the probe wrote. */
const WRONG_ETAG = '"00000000000000000000000000000000"';

/**
 * Thrown by {@link S3BlobStore.verifyConditionalWrites} (and so by the first conditional put) when the server
 * accepts a write that `If-None-Match: *` or `If-Match` should have refused.
 */
export class ConditionalWritesUnsupportedError extends Error {
  override readonly name = 'ConditionalWritesUnsupportedError';

  constructor(
    readonly server: string,
    readonly ignored: string[],
  ) {
    super(
      `S3 at ${server}: PutObject ignores ${ignored.join(' and ')}; the registry needs conditional writes ` +
        '(AWS S3, MinIO, Versity S3 gateway)',
    );
  }
}

/** Blob store on an S3 bucket (`s3://`) for shared deployments; conditions map to S3's `If-None-Match` and `If-Match`. */
export class S3BlobStore implements BlobStore {
  readonly uri: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly server: string;
  private readonly client: S3Client;
  /** Set by the first {@link verifyConditionalWrites}; cleared when it fails, so a later call probes again. */
  private verified: Promise<void> | undefined;

  constructor(options: S3StoreOptions) {
    const { bucket, prefix = '', region, endpoint, accessKeyId, secretAccessKey } = options;
    const { connectTimeoutMs = 5000, idleTimeoutMs = 30_000 } = options;
    if (prefix !== '') assertValidKey(prefix);
    if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
      throw new Error(`S3 store s3://${bucket}: give both accessKeyId and secretAccessKey, or neither`);
    }
    this.bucket = bucket;
    this.prefix = prefix;
    this.uri = prefix === '' ? `s3://${bucket}` : `s3://${bucket}/${prefix}`;
    this.server = endpoint ?? `AWS ${region}`;
    this.client = new S3Client({
      region,
      endpoint,
      forcePathStyle: true,
      credentials: accessKeyId && secretAccessKey ? { accessKeyId, secretAccessKey } : undefined,
      requestHandler: { connectionTimeout: connectTimeoutMs, socketTimeout: idleTimeoutMs },
    });
  }

  uriFor(key: string): string {
    return `s3://${this.bucket}/${this.objectKey(key)}`;
  }

  async get(key: string): Promise<StoredBlob | undefined> {
    return guardIo('read', this.uriFor(key), async () => {
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
    });
  }

  /**
   * Checks once that the server refuses what the registry's conditions forbid: a second create-only write
   * of a probe key (`If-None-Match: *`) and a compare-and-swap with a wrong entity tag (`If-Match`); then
   * deletes the probe. A server that accepts either would let two writers both win a race, silently, so
   * this throws {@link ConditionalWritesUnsupportedError} naming the endpoint instead. The first
   * conditional {@link put} calls it; openers may call it at start-up to fail there.
   */
  verifyConditionalWrites(): Promise<void> {
    this.verified ??= this.probeConditionalWrites().catch((err: unknown) => {
      this.verified = undefined;
      throw err;
    });
    return this.verified;
  }

  /** Failures other than a false condition throw {@link BlobIoError} naming the bucket and key. */
  async put(key: string, body: Uint8Array | string, options: PutOptions = {}): Promise<{ etag: string }> {
    return guardIo(
      'write',
      this.uriFor(key),
      async () => {
        if (options.ifNoneMatch !== undefined || options.ifMatch !== undefined)
          await this.verifyConditionalWrites();
        return this.putObject(key, body, options);
      },
      (err) => err instanceof ConditionalWritesUnsupportedError,
    );
  }

  private async probeConditionalWrites(): Promise<void> {
    const key = `${PROBE_PREFIX}/${randomUUID()}`;
    const ignored: string[] = [];
    try {
      await this.putObject(key, 'created', { ifNoneMatch: '*' });
      if (!(await refused(this.putObject(key, 'created again', { ifNoneMatch: '*' }))))
        ignored.push('If-None-Match: *');
      if (!(await refused(this.putObject(key, 'swapped', { ifMatch: WRONG_ETAG })))) ignored.push('If-Match');
    } finally {
      // Raw and quiet: a probe left behind is harmless, and the error that matters is the write's.
      await this.client
        .send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }))
        .catch(() => undefined);
    }
    if (ignored.length > 0) throw new ConditionalWritesUnsupportedError(this.server, ignored);
  }

  private async putObject(
    key: string,
    body: Uint8Array | string,
    options: PutOptions,
  ): Promise<{ etag: string }> {
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
    return guardIo('list', `s3://${this.bucket}/${base}${prefix}`, async () => {
      const keys: string[] = [];
      const pages = paginateListObjectsV2(
        { client: this.client },
        { Bucket: this.bucket, Prefix: base + prefix },
      );
      for await (const page of pages) {
        for (const { Key } of page.Contents ?? []) if (Key !== undefined) keys.push(Key.slice(base.length));
      }
      return keys.sort();
    });
  }

  async listPrefixes(prefix: string): Promise<string[]> {
    assertValidPrefix(prefix);
    const base = this.prefix === '' ? '' : `${this.prefix}/`;
    return guardIo('list', `s3://${this.bucket}/${base}${prefix}`, async () => {
      const folders: string[] = [];
      const pages = paginateListObjectsV2(
        { client: this.client },
        { Bucket: this.bucket, Prefix: base + prefix, Delimiter: '/' },
      );
      for await (const page of pages) {
        for (const { Prefix } of page.CommonPrefixes ?? [])
          if (Prefix !== undefined) folders.push(Prefix.slice(base.length));
      }
      return folders.sort();
    });
  }

  async delete(key: string): Promise<void> {
    return guardIo('delete', this.uriFor(key), async () => {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
    });
  }

  private objectKey(key: string): string {
    assertValidKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }
}

/** True when the write failed its condition, false when it succeeded; other errors propagate. */
async function refused(write: Promise<unknown>): Promise<boolean> {
  try {
    await write;
    return false;
  } catch (err) {
    if (err instanceof PreconditionFailedError) return true;
    throw err;
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
