import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';

import { createRegisterModel } from '../../activities/register-model';
import type { ActivityDeps } from '../../activities';
import type { DatasetManifest } from '../../common/artefacts';
import { HyperparamsSchema, ModelSpecSchema } from '../../common/model-spec';
import type { RegisterInput } from '../../common/stages';
import { selectBackend } from '../../ml/backend';
import type { BlobStore, PutOptions } from '../../storage/blob-store';
import { DataBuffer } from '../../storage/buffer';
import { FileBlobStore } from '../../storage/file-store';
import { openBlobStore, putJson } from '../../storage/open-store';
import { AliasConflictError, ModelRegistry } from '../../storage/registry';
import { ensureBucket, removeBucket } from '../helpers/minio';
import { preprocessingFor, publishVersion, saveModel, smallModel } from '../helpers/models';

const SPEC = ModelSpecSchema.parse({
  name: 'register-me',
  task: 'forecast',
  timeColumn: 'ts',
  entityColumn: 'host',
  features: ['cpu'],
  target: 'cpu',
  lookback: 2,
});

/** Simulated crash: the k-th write throws, before it reaches the store or after it did (a lost answer). */
class CrashingStore implements BlobStore {
  writes = 0;
  crashAt = Number.POSITIVE_INFINITY;
  mode: 'before' | 'after' = 'before';

  constructor(readonly inner: BlobStore) {}

  get uri(): string {
    return this.inner.uri;
  }
  get(key: string) {
    return this.inner.get(key);
  }
  list(prefix: string) {
    return this.inner.list(prefix);
  }
  listPrefixes(prefix: string) {
    return this.inner.listPrefixes(prefix);
  }
  uriFor(key: string) {
    return this.inner.uriFor(key);
  }
  async put(key: string, body: Uint8Array | string, options?: PutOptions) {
    const crash = ++this.writes === this.crashAt;
    if (crash && this.mode === 'before')
      throw new Error(`simulated crash before write ${this.writes} (${key})`);
    const written = await this.inner.put(key, body, options);
    if (crash) throw new Error(`simulated crash after write ${this.writes} (${key})`);
    return written;
  }
  async delete(key: string) {
    if (++this.writes === this.crashAt) throw new Error(`simulated crash at delete ${key}`);
    return this.inner.delete(key);
  }
}

interface StoreCase {
  name: string;
  open(): Promise<{ store: BlobStore; cleanup(): Promise<void> }>;
}

const stores: StoreCase[] = [
  {
    name: 'file store',
    async open() {
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-register-'));
      return {
        store: new FileBlobStore(dir),
        cleanup: () => fs.rm(dir, { recursive: true, force: true }),
      };
    },
  },
  {
    name: 'MinIO',
    async open() {
      const minio = inject('minio');
      const bucket = `test-register-${randomUUID().slice(0, 8)}`;
      await ensureBucket(minio, bucket);
      return {
        store: openBlobStore(`s3://${bucket}/run-${randomUUID().slice(0, 8)}`, minio),
        cleanup: () => removeBucket(minio, bucket),
      };
    },
  },
];

const WORKFLOW_ID = 'retrain-register-me-20240101T000000Z';

/** A registry holding production v1 and a trained candidate with its dataset manifest, ready to register. */
async function prepare(store: BlobStore): Promise<{ input: RegisterInput; candidateWeights: Uint8Array }> {
  const registry = new ModelRegistry(store);
  await registry.saveSpec(SPEC);
  await publishVersion(registry, SPEC, 'v1', { seed: 1 });
  await registry.setAlias(SPEC.name, 'v1', 'wf-v1');
  const candidateKey = `checkpoints/${SPEC.name}/${WORKFLOW_ID}/final`;
  await saveModel(registry, candidateKey, smallModel(SPEC, 7));
  const datasetKey = `datasets/${SPEC.name}/${WORKFLOW_ID}`;
  const file = { key: `${datasetKey}/x.parquet`, sha256: '0', bytes: 0 };
  const manifest: DatasetManifest = {
    model: SPEC.name,
    workflowId: WORKFLOW_ID,
    createdAt: '2024-01-01T00:00:00Z',
    window: { from: '2023-12-01T00:00:00Z', to: '2024-01-01T00:00:00Z', days: 31 },
    rows: { train: 800, holdout: 200 },
    columns: ['entity', 'time', 'cpu_lag1', 'cpu_lag0', 'y'],
    timeRange: { trainFrom: 'a', trainTo: 'b', holdoutFrom: 'c', holdoutTo: 'd' },
    preprocessing: preprocessingFor(SPEC),
    files: { rows: file },
  };
  await putJson(store, `${datasetKey}/manifest.json`, manifest);
  const candidateWeights = (await store.get(`${candidateKey}/weights.bin`))!.body;
  const input: RegisterInput = {
    model: SPEC.name,
    workflowId: WORKFLOW_ID,
    runId: 'run-1',
    datasetKey,
    candidateKey,
    hyperparams: HyperparamsSchema.parse({ hiddenUnits: 4, seed: 7 }),
    training: {
      candidateKey,
      backend: 'cpu',
      epochs: 3,
      loss: 0.5,
      valLoss: 0.6,
      samplesPerSec: 1000,
      warmStart: { from: 'v1' },
    },
    validation: {
      passed: true,
      reason: 'candidate mae 1.0 vs production v1 1.1',
      metric: 'mae',
      decision: { by: 'production', against: 'v1', candidate: 1, reference: 1.1, limit: 1.155 },
      gate: { metric: 'mae', mustBeatBaseline: true, tolerance: 0.05 },
      candidate: { mae: 1, rmse: 1.2, mape: 3 },
      baselines: { lastValue: { mae: 2 }, sameHourDayBefore: { mae: 1.5, coverage: 0.9 } },
      production: { version: 'v1', metrics: { mae: 1.1 } },
    },
  };
  return { input, candidateWeights };
}

function register(store: BlobStore, input: RegisterInput) {
  const deps: ActivityDeps = {
    store,
    registry: new ModelRegistry(store),
    buffer: new DataBuffer(os.tmpdir()),
    backend: 'cpu',
    servingUrls: [],
  };
  return new MockActivityEnvironment().run(createRegisterModel(deps), input);
}

/** Exactly v1 and v2, v2 complete and holding the candidate, production v2 with previous v1. */
async function expectOneNewVersion(store: BlobStore, input: RegisterInput, candidateWeights: Uint8Array) {
  const registry = new ModelRegistry(store);
  expect(await registry.listVersions(SPEC.name)).toEqual(['v1', 'v2']);
  const dirs = new Set((await store.list(`models/${SPEC.name}/versions/`)).map((k) => k.split('/')[3]));
  expect([...dirs].sort()).toEqual(['v1', 'v2']);
  expect(await registry.versionProblem(SPEC.name, 'v2')).toBeUndefined();
  const weights = await store.get(`${registry.versionPrefix(SPEC.name, 'v2')}/weights.bin`);
  expect(Buffer.from(weights!.body).equals(Buffer.from(candidateWeights))).toBe(true);
  const metadata = await registry.getMetadata(SPEC.name, 'v2');
  expect(metadata).toMatchObject({
    model: SPEC.name,
    version: 'v2',
    workflowId: input.workflowId,
    runId: input.runId,
    parentVersion: 'v1',
    backend: 'cpu',
    metrics: input.validation.candidate,
    baselines: input.validation.baselines,
    dataset: { key: input.datasetKey, rows: { train: 800, holdout: 200 } },
  });
  const alias = await registry.getAlias(SPEC.name);
  expect(alias?.value).toMatchObject({ version: 'v2', previous: 'v1', workflowId: input.workflowId });
}

beforeAll(async () => {
  await selectBackend('cpu');
});

describe.each(stores)('registerModel and the production alias on the $name', (storeCase) => {
  let opened: Awaited<ReturnType<StoreCase['open']>>;
  beforeAll(async () => {
    opened = await storeCase.open();
  });
  afterAll(async () => opened?.cleanup());

  /** Each scenario gets its own prefix of the store, so scenarios do not see each other. */
  const scoped = (): BlobStore => scope(opened.store, `case-${randomUUID().slice(0, 8)}`);

  it('registers once: a second call returns the same version and writes no new one', async () => {
    const store = scoped();
    const { input, candidateWeights } = await prepare(store);
    expect(await register(store, input)).toEqual({ version: 'v2', previous: 'v1' });
    expect(await register(store, input)).toEqual({ version: 'v2', previous: 'v1' });
    await expectOneNewVersion(store, input, candidateWeights);
  });

  it('leaves exactly one version and a consistent alias when a retry follows a crash at any write', async () => {
    const dry = new CrashingStore(scoped());
    const { input } = await prepare(dry.inner);
    await register(dry, input);
    const writes = dry.writes;
    expect(writes).toBeGreaterThanOrEqual(5);
    for (const mode of ['before', 'after'] as const) {
      for (let k = 1; k <= writes; k++) {
        const store = new CrashingStore(scoped());
        const { candidateWeights } = await prepare(store.inner);
        store.crashAt = k;
        store.mode = mode;
        await expect(register(store, input), `crash ${mode} write ${k}`).rejects.toThrow(/simulated crash/);
        store.crashAt = Number.POSITIVE_INFINITY;
        expect(await register(store, input), `retry after crash ${mode} write ${k}`).toEqual({
          version: 'v2',
          previous: 'v1',
        });
        await expectOneNewVersion(store, input, candidateWeights);
      }
    }
  });

  it('two racing attempts of one registration (both list before either claims) register one version', async () => {
    const store = scoped();
    const { input, candidateWeights } = await prepare(store);
    const racing = listTogether(store, `models/${SPEC.name}/versions/`, 2);
    const results = await Promise.all([register(racing, input), register(racing, input)]);
    expect(results).toEqual([
      { version: 'v2', previous: 'v1' },
      { version: 'v2', previous: 'v1' },
    ]);
    await expectOneNewVersion(store, input, candidateWeights);
  });

  it('lets one of two concurrent alias movers win; the loser gets a conflict and the alias stays whole', async () => {
    const store = scoped();
    await prepare(store);
    const a = new ModelRegistry(store);
    const b = new ModelRegistry(store);
    await publishVersion(a, SPEC, 'v2', { seed: 2 });
    await publishVersion(a, SPEC, 'v3', { seed: 3 });
    for (let round = 0; round < 5; round++) {
      const before = (await a.getAlias(SPEC.name))!.value.version;
      const [toA, toB] = before === 'v1' ? ['v2', 'v3'] : ['v1', before === 'v2' ? 'v3' : 'v2'];
      const settled = await Promise.allSettled([
        a.moveAlias(SPEC.name, toA, { expected: before, workflowId: 'mover-a' }),
        b.moveAlias(SPEC.name, toB, { expected: before, workflowId: 'mover-b' }),
      ]);
      const won = settled.filter((s) => s.status === 'fulfilled');
      const lost = settled.filter((s) => s.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(1);
      const reason = (lost[0] as PromiseRejectedResult).reason as Error;
      expect(reason).toBeInstanceOf(AliasConflictError);
      expect(reason.message).toMatch(
        new RegExp(
          `^Alias production of ${SPEC.name} points at v\\d, expected ${before}: another writer moved it`,
        ),
      );
      const winner = (won[0] as PromiseFulfilledResult<{ version: string }>).value.version;
      expect((await a.getAlias(SPEC.name))?.value).toMatchObject({ version: winner, previous: before });
    }
  });

  it('refuses a move whose expectation is stale and changes nothing', async () => {
    const store = scoped();
    await prepare(store);
    const registry = new ModelRegistry(store);
    const before = await store.get(`models/${SPEC.name}/aliases/production.json`);
    await expect(registry.moveAlias(SPEC.name, 'v1', { expected: 'v7', workflowId: null })).rejects.toThrow(
      'points at v1, expected v7',
    );
    const after = await store.get(`models/${SPEC.name}/aliases/production.json`);
    expect(after?.etag).toBe(before?.etag);
  });
});

/**
 * `store` whose listings of `prefix` are answered only once `callers` of them are waiting, so that
 * many racing attempts all read the store before any of them claims.
 */
function listTogether(store: BlobStore, prefix: string, callers: number): BlobStore {
  let waiting = 0;
  let release: () => void = () => undefined;
  const together = new Promise<void>((resolve) => (release = resolve));
  return {
    uri: store.uri,
    get: (key) => store.get(key),
    put: (key, body, options) => store.put(key, body, options),
    list: async (p) => {
      if (p === prefix && ++waiting === callers) release();
      if (p === prefix) await together;
      return store.list(p);
    },
    listPrefixes: (p) => store.listPrefixes(p),
    delete: (key) => store.delete(key),
    uriFor: (key) => store.uriFor(key),
  };
}

/** `store` seen under `prefix/`, so each scenario starts empty. */
function scope(store: BlobStore, prefix: string): BlobStore {
  const strip = (key: string) => key.slice(prefix.length + 1);
  return {
    uri: `${store.uri}/${prefix}`,
    get: (key) => store.get(`${prefix}/${key}`),
    put: (key, body, options) => store.put(`${prefix}/${key}`, body, options),
    list: async (p) => (await store.list(`${prefix}/${p}`)).map(strip),
    listPrefixes: async (p) => (await store.listPrefixes(`${prefix}/${p}`)).map(strip),
    delete: (key) => store.delete(`${prefix}/${key}`),
    uriFor: (key) => store.uriFor(`${prefix}/${key}`),
  };
}
