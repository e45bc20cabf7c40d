import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';

import { ModelSpecSchema } from '../../common/model-spec';
import type { TriggerEvaluation } from '../../common/triggers';
import type { BlobStore } from '../../storage/blob-store';
import { FileBlobStore } from '../../storage/file-store';
import { ModelRegistry } from '../../storage/registry';
import { TriggerHistory } from '../../storage/trigger-history';
import { countingStore } from '../helpers/counting-store';
import { ensureBucket, removeBucket, s3StoreOn } from '../helpers/minio';

/** A minimal valid spec named `name`. */
const specOf = (name: string) =>
  ModelSpecSchema.parse({
    name,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'host',
    features: ['cpu'],
    target: 'cpu',
    lookback: 2,
  });

/** Evaluations recorded per check, 15 minutes apart from 2026-11-01: a little over two days of checks. */
const EVALUATIONS = 200;

function evaluation(model: string, i: number): TriggerEvaluation {
  const at = new Date(Date.parse('2026-11-01T00:00:00.000Z') + i * 15 * 60_000).toISOString();
  return { model, at, decision: 'notTriggered', reason: 'quiet', checks: [], checkWorkflowId: `check-${i}` };
}

interface OpenedStore {
  store: BlobStore;
  cleanup(): Promise<void>;
}

/** The behaviour every store's folder listing promises, and listModels' cost on it. */
function listingContract(open: () => Promise<OpenedStore>) {
  let opened: OpenedStore;
  let store: BlobStore;

  beforeEach(async () => {
    opened = await open();
    store = opened.store;
  });
  afterEach(() => opened.cleanup());

  it('lists the immediate folders under a prefix, sorted, however deep their keys lie', async () => {
    for (const key of ['a/2', 'a/b/c', 'a/d/e/f', 'ab/x', 'b/y/z', 'top']) await store.put(key, key);
    expect(await store.listPrefixes('')).toEqual(['a/', 'ab/', 'b/']);
    expect(await store.listPrefixes('a/')).toEqual(['a/b/', 'a/d/']);
    expect(await store.listPrefixes('a')).toEqual(['a/', 'ab/']);
    expect(await store.listPrefixes('a/d/')).toEqual(['a/d/e/']);
    expect(await store.listPrefixes('a/b/')).toEqual([]);
    expect(await store.listPrefixes('nowhere/')).toEqual([]);
  });

  it('no longer lists a folder whose keys were all deleted', async () => {
    await store.put('days/2026-11-01/a.json', '{}');
    await store.put('days/2026-11-02/b/c.json', '{}');
    await store.delete('days/2026-11-01/a.json');
    await store.delete('days/2026-11-02/b/c.json');
    expect(await store.listPrefixes('days/')).toEqual([]);
  });

  it('lists models at a cost that does not grow with their trigger evaluations, old layout included', async () => {
    const counted = countingStore(store);
    const registry = new ModelRegistry(counted.store);
    for (const name of ['alpha', 'beta', 'gamma']) await registry.saveSpec(specOf(name));
    // A folder without a spec (a version claimed before its spec was saved) is no model, as before.
    await store.put('models/orphan/versions/v1/claim.json', '{}');

    counted.reset();
    expect(await registry.listModels()).toEqual(['alpha', 'beta', 'gamma']);
    const before = structuredClone(counted.counts);

    const history = new TriggerHistory(store);
    for (let i = 0; i < EVALUATIONS; i++) await history.record(evaluation('alpha', i));
    // Where deployments before evaluations/ kept them: inside the model's folder.
    for (let i = 0; i < EVALUATIONS; i++)
      await store.put(`models/beta/evaluations/2026-11-01/${String(i).padStart(6, '0')}-check.json`, '{}');
    expect((await store.list('evaluations/alpha/')).length).toBeGreaterThanOrEqual(EVALUATIONS);

    counted.reset();
    expect(await registry.listModels()).toEqual(['alpha', 'beta', 'gamma']);
    expect(counted.counts).toEqual(before);
    // One listing by delimiter (four folders), one read per folder for its spec.
    expect(before).toEqual({ calls: { get: 4, put: 0, list: 0, listPrefixes: 1, delete: 0 }, listed: 4 });
  });
}

describe('FileBlobStore', () => {
  listingContract(async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-list-models-'));
    return { store: new FileBlobStore(dir), cleanup: () => fs.rm(dir, { recursive: true, force: true }) };
  });
});

/** The same on an S3 server that global setup started: one bucket per server, one prefix per test. */
function s3Listing(server: 'minio' | 'versitygw') {
  const bucket = `test-${randomUUID()}`;
  const connection = inject(server);

  beforeAll(() => ensureBucket(connection, bucket), 30_000);
  afterAll(() => removeBucket(connection, bucket), 30_000);

  listingContract(async () => {
    const store = s3StoreOn(connection, bucket);
    const cleanup = async () => {
      for (const key of await store.list('')) await store.delete(key);
    };
    return { store, cleanup };
  });
}

describe('S3BlobStore on MinIO', () => s3Listing('minio'));

describe("S3BlobStore on Versity's S3 gateway (posix backend)", () => s3Listing('versitygw'));
