import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { z } from 'zod';

import type { BlobStore } from '../../storage/blob-store';
import { CorruptBlobError, InvalidKeyError, PreconditionFailedError } from '../../storage/errors';
import { FileBlobStore } from '../../storage/file-store';
import { getJson, openBlobStore, putJson } from '../../storage/open-store';
import { ensureBucket, removeBucket, s3StoreOn } from '../helpers/minio';

interface OpenedStore {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/** The behaviour every BlobStore promises; `open` gives each test a fresh, empty store. */
function blobStoreContract(open: () => Promise<OpenedStore>) {
  let opened: OpenedStore;
  let store: BlobStore;

  beforeEach(async () => {
    opened = await open();
    store = opened.store;
  });
  afterEach(() => opened.cleanup());

  it('round-trips bytes and strings, with the etag that put returned', async () => {
    const bytes = new Uint8Array([0, 1, 2, 254, 255]);
    const { etag } = await store.put('blobs/weights.bin', bytes);
    const stored = await store.get('blobs/weights.bin');
    expect(stored?.body).toEqual(bytes);
    expect(stored?.etag).toBe(etag);

    await store.put('blobs/note.txt', 'héllo ✓', { contentType: 'text/plain' });
    expect(text((await store.get('blobs/note.txt'))?.body)).toBe('héllo ✓');
  });

  it('returns undefined for a missing key, including one that is only a folder of other keys', async () => {
    await store.put('models/m/spec.json', '{}');
    expect(await store.get('models/m/missing.json')).toBeUndefined();
    expect(await store.get('models/m')).toBeUndefined();
    expect(await store.get('nowhere/at/all')).toBeUndefined();
  });

  it('lists keys under a prefix recursively and sorted, without other prefixes', async () => {
    for (const key of ['a/2', 'a/b/c', 'a/1', 'ab/x', 'b/y']) await store.put(key, key);
    expect(await store.list('a/')).toEqual(['a/1', 'a/2', 'a/b/c']);
    expect(await store.list('a')).toEqual(['a/1', 'a/2', 'a/b/c', 'ab/x']);
    expect(await store.list('')).toEqual(['a/1', 'a/2', 'a/b/c', 'ab/x', 'b/y']);
    expect(await store.list('zzz/')).toEqual([]);
  });

  it('deletes a key, and deleting a missing key is not an error', async () => {
    await store.put('d/k', 'v');
    await store.delete('d/k');
    expect(await store.get('d/k')).toBeUndefined();
    expect(await store.list('d/')).toEqual([]);
    await expect(store.delete('d/k')).resolves.toBeUndefined();
    await expect(store.delete('never/existed')).resolves.toBeUndefined();
  });

  it('creates with ifNoneMatch once; a second create fails and keeps the first content', async () => {
    await store.put('versions/1/model.json', 'first', { ifNoneMatch: '*' });
    await expect(store.put('versions/1/model.json', 'second', { ifNoneMatch: '*' })).rejects.toThrow(
      PreconditionFailedError,
    );
    expect(text((await store.get('versions/1/model.json'))?.body)).toBe('first');
  });

  it('replaces with ifMatch of the current etag and returns the new etag', async () => {
    const { etag: first } = await store.put('aliases/production.json', 'v1');
    const { etag: second } = await store.put('aliases/production.json', 'v2', { ifMatch: first });
    expect(second).not.toBe(first);
    const stored = await store.get('aliases/production.json');
    expect(text(stored?.body)).toBe('v2');
    expect(stored?.etag).toBe(second);
  });

  it('refuses ifMatch with a stale etag, or on a missing key, and leaves the content unchanged', async () => {
    const { etag: stale } = await store.put('aliases/production.json', 'v1');
    await store.put('aliases/production.json', 'v2');
    const error = await store
      .put('aliases/production.json', 'v3', { ifMatch: stale })
      .catch((err: unknown) => err);
    expect(error).toBeInstanceOf(PreconditionFailedError);
    expect((error as Error).message).toContain('aliases/production.json');
    expect(text((await store.get('aliases/production.json'))?.body)).toBe('v2');

    await expect(store.put('aliases/other.json', 'v1', { ifMatch: stale })).rejects.toThrow(
      PreconditionFailedError,
    );
    expect(await store.get('aliases/other.json')).toBeUndefined();
  });

  it('lets exactly one of 10 concurrent compare-and-swap writers from the same etag win', async () => {
    const { etag } = await store.put('alias.json', 'start');
    const writes = Array.from({ length: 10 }, (_, i) =>
      store.put('alias.json', `writer-${i}`, { ifMatch: etag }),
    );
    const results = await Promise.allSettled(writes);

    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
    expect(text((await store.get('alias.json'))?.body)).toBe(`writer-${winners[0]}`);
    expect(await store.list('')).toEqual(['alias.json']);
  });

  it('lets exactly one of 10 concurrent ifNoneMatch creators win', async () => {
    const creates = Array.from({ length: 10 }, (_, i) =>
      store.put('v/1', `creator-${i}`, { ifNoneMatch: '*' }),
    );
    const results = await Promise.allSettled(creates);

    const winners = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    expect(winners).toHaveLength(1);
    for (const r of results)
      if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(PreconditionFailedError);
    expect(text((await store.get('v/1'))?.body)).toBe(`creator-${winners[0]}`);
    expect(await store.list('')).toEqual(['v/1']);
  });

  it.each(['../x', '/abs', '', 'a/../b', 'a//b', 'a/.retrain-lock-b'])(
    'rejects the invalid key %j',
    async (key) => {
      await expect(store.get(key)).rejects.toThrow(InvalidKeyError);
      await expect(store.put(key, 'x')).rejects.toThrow(InvalidKeyError);
      await expect(store.delete(key)).rejects.toThrow(InvalidKeyError);
      expect(() => store.uriFor(key)).toThrow(InvalidKeyError);
    },
  );

  it('rejects list prefixes that climb or are absolute', async () => {
    await expect(store.list('../')).rejects.toThrow(InvalidKeyError);
    await expect(store.list('/a')).rejects.toThrow(InvalidKeyError);
  });

  it('round-trips JSON with getJson/putJson and names the key when it does not match the schema', async () => {
    const Alias = z.object({ version: z.string() });
    const { etag } = await putJson(store, 'aliases/p.json', { version: 'v7' });
    expect(await getJson(store, 'aliases/p.json', Alias)).toEqual({ value: { version: 'v7' }, etag });
    expect(await getJson(store, 'aliases/missing.json', Alias)).toBeUndefined();

    await putJson(store, 'aliases/bad.json', { version: 7 });
    await expect(getJson(store, 'aliases/bad.json', Alias)).rejects.toThrow(CorruptBlobError);
    await expect(getJson(store, 'aliases/bad.json', Alias)).rejects.toThrow(store.uriFor('aliases/bad.json'));
    await store.put('aliases/garbage.json', '{not json');
    await expect(getJson(store, 'aliases/garbage.json', Alias)).rejects.toThrow(
      /garbage\.json is not valid JSON/,
    );
  });
}

describe('FileBlobStore', () => {
  blobStoreContract(async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-blob-'));
    return { store: new FileBlobStore(dir), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
  });

  it('breaks a lock left behind by a crashed writer after 30s', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-blob-'));
    try {
      const store = new FileBlobStore(dir);
      const { etag } = await store.put('alias.json', 'v1');
      const lock = path.join(dir, '.retrain-lock-alias.json');
      await fs.writeFile(lock, '12345');
      const longAgo = new Date(Date.now() - 60_000);
      await fs.utimes(lock, longAgo, longAgo);
      await store.put('alias.json', 'v2', { ifMatch: etag });
      expect(text((await store.get('alias.json'))?.body)).toBe('v2');
      await expect(fs.access(lock)).rejects.toThrow();

      // A fresh lock is a live writer's: the put waits for it instead of breaking it.
      await fs.writeFile(lock, '12345');
      const blocked = store.put('alias.json', 'v3');
      const waited = await Promise.race([
        blocked.then(() => 'written'),
        new Promise((resolve) => setTimeout(() => resolve('waiting'), 300)),
      ]);
      expect(waited).toBe('waiting');
      await fs.rm(lock);
      await blocked;
      expect(text((await store.get('alias.json'))?.body)).toBe('v3');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

/** The contract on an S3 server that global setup started: one bucket per file, one prefix per test. */
function s3Contract(server: 'minio' | 'versitygw') {
  const bucket = `test-${randomUUID()}`;
  const connection = inject(server);

  beforeAll(() => ensureBucket(connection, bucket), 30_000);
  afterAll(() => removeBucket(connection, bucket), 30_000);

  blobStoreContract(async () => {
    const store = s3StoreOn(connection, bucket);
    const cleanup = async () => {
      for (const key of await store.list('')) await store.delete(key);
    };
    return { store, cleanup };
  });
}

describe('S3BlobStore on MinIO', () => s3Contract('minio'));

describe("S3BlobStore on Versity's S3 gateway (posix backend)", () => s3Contract('versitygw'));

describe('openBlobStore', () => {
  it('opens file:// URIs relative to the working directory or absolute', () => {
    expect(openBlobStore('file://.data/store').uri).toBe(`file://${path.resolve('.data/store')}`);
    expect(openBlobStore('file:///var/retrain').uri).toBe('file:///var/retrain');
  });

  it('opens s3:// URIs with and without a prefix', () => {
    const s3 = {
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9000',
      accessKeyId: 'k',
      secretAccessKey: 's3cret-key',
    };
    expect(openBlobStore('s3://models/team/a/', s3).uri).toBe('s3://models/team/a');
    expect(openBlobStore('s3://models', s3).uriFor('x/y.json')).toBe('s3://models/x/y.json');
  });

  it.each(['http://example.com/x', 'file://', 's3://', 's3://Bad_Bucket/x', '.data/store'])(
    'refuses %j with an error naming it',
    (uri) => {
      expect(() => openBlobStore(uri, { region: 'us-east-1' })).toThrow(uri);
    },
  );

  it('refuses s3:// without S3 settings', () => {
    expect(() => openBlobStore('s3://models')).toThrow('needs S3 settings');
  });
});
