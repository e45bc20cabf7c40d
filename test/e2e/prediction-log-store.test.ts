import { randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import type { BlobStore } from '../../storage/blob-store';
import { withDuckDb } from '../../storage/duckdb';
import { FileBlobStore } from '../../storage/file-store';
import { PredictionLog, predictionLogReader, type PredictionRecord } from '../../storage/prediction-log';
import { PredictionParts } from '../../storage/prediction-parts';
import { eventually } from '../helpers/eventually';
import { ensureBucket, removeBucket, s3StoreOn } from '../helpers/minio';

const DAY_MS = 86_400_000;
const quiet = { warn() {} };

let dir: string;
const opened: PredictionLog[] = [];

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-prediction-store-'));
});

afterEach(async () => {
  for (const log of opened.splice(0)) await log.close();
});

afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A server's log: its own private directory, the shared store. */
async function serverLog(store: BlobStore): Promise<PredictionLog> {
  const log = await PredictionLog.open(path.join(dir, `server-${randomUUID()}`), {
    store,
    flushMs: 60_000,
    logger: quiet,
  });
  opened.push(log);
  return log;
}

/** `count` answers for `model` given at `at`, entities `<prefix>-0..`. */
function answers(model: string, prefix: string, count: number, at: number): PredictionRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    model,
    version: 'v1',
    entity: `${prefix}-${i}`,
    time: at - 3_600_000,
    for: null,
    value: i,
    label: null,
    predictedAt: at,
  }));
}

/** The entities a reader with a directory of its own (another host) finds for `model`. */
async function entitiesSeen(store: BlobStore, model: string): Promise<string[]> {
  const source = await predictionLogReader(path.join(dir, `reader-${randomUUID()}`), store).source(model);
  if (!source) return [];
  return withDuckDb(async (conn) => {
    const reader = await conn.runAndReadAll(`SELECT entity FROM ${source} ORDER BY entity`);
    return (reader.getRowObjectsJson() as { entity: string }[]).map((r) => r.entity);
  });
}

/** The names of the store's objects for `model`'s day `day`. */
async function dayObjects(store: BlobStore, model: string, day: string): Promise<string[]> {
  const prefix = `predictions/model=${model}/day=${day}/`;
  return (await store.list(prefix)).map((key) => key.slice(prefix.length));
}

function storeContract(openStore: () => BlobStore) {
  it('answers logged by two servers are read whole, and the same, by any other host', async () => {
    const store = openStore();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const [a, b] = [await serverLog(store), await serverLog(store)];
    const now = Date.now();
    await a.record(answers(model, 'a', 30, now));
    await b.record(answers(model, 'b', 20, now));
    await Promise.all([a.flush(), b.flush()]);

    const first = await entitiesSeen(store, model);
    expect(first).toHaveLength(50);
    expect(new Set(first).size).toBe(50);
    expect(await entitiesSeen(store, model)).toEqual(first);
    // Each server reads what the other answered too.
    expect(await a.source(model)).toBeDefined();
  });

  it('compacts an ended day into one file without losing or doubling an answer, also a part that lands later', async () => {
    const store = openStore();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const yesterday = Date.now() - DAY_MS;
    const day = new Date(yesterday).toISOString().slice(0, 10);
    for (const prefix of ['a', 'b', 'c']) {
      const log = await serverLog(store);
      await log.record(answers(model, prefix, 10, yesterday));
      await log.flush();
    }
    expect((await dayObjects(store, model, day)).filter((n) => n.startsWith('part-'))).toHaveLength(3);

    expect(await entitiesSeen(store, model)).toHaveLength(30);
    const compacted = await dayObjects(store, model, day);
    expect(compacted.filter((n) => n.startsWith('part-'))).toEqual([]);
    expect(compacted.filter((n) => n.startsWith('compact-'))).toHaveLength(1);
    expect(compacted).toContain('compacted.json');

    // A dead server's journal, turned after the day was compacted.
    const late = await serverLog(store);
    await late.record(answers(model, 'late', 5, yesterday));
    await late.flush();
    const seen = await entitiesSeen(store, model);
    expect(seen).toHaveLength(35);
    expect(new Set(seen).size).toBe(35);
    const again = await dayObjects(store, model, day);
    expect(again.filter((n) => n.startsWith('part-'))).toEqual([]);
    expect(again.filter((n) => n.startsWith('compact-'))).toHaveLength(1);
  });

  it('two readers compacting the same day at once leave one compacted file and count every answer once', async () => {
    const store = openStore();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const yesterday = Date.now() - DAY_MS;
    const day = new Date(yesterday).toISOString().slice(0, 10);
    for (const prefix of ['a', 'b', 'c', 'd']) {
      const log = await serverLog(store);
      await log.record(answers(model, prefix, 25, yesterday));
      await log.flush();
    }
    const counts = await Promise.all([entitiesSeen(store, model), entitiesSeen(store, model)]);
    expect(counts.map((c) => c.length)).toEqual([100, 100]);
    expect((await dayObjects(store, model, day)).filter((n) => n.startsWith('compact-'))).toHaveLength(1);
    expect(await entitiesSeen(store, model)).toHaveLength(100);
  });

  it("moves a host's Parquet files of an earlier release into the store when its server opens the log", async () => {
    const store = openStore();
    const model = `m-${randomUUID().slice(0, 8)}`;
    const logDir = path.join(dir, `upgraded-${randomUUID()}`);
    const local = await PredictionLog.open(logDir, { logger: quiet });
    await local.record(answers(model, 'kept', 6, Date.now()));
    await local.close();
    expect((await fs.readdir(logDir)).filter((n) => n.startsWith('model='))).toHaveLength(1);

    const upgraded = await PredictionLog.open(logDir, { store, flushMs: 60_000, logger: quiet });
    opened.push(upgraded);
    expect((await fs.readdir(logDir)).filter((n) => n.startsWith('model='))).toEqual([]);
    expect(await entitiesSeen(store, model)).toHaveLength(6);
    expect(upgraded.faults.count('turn')).toBe(0);
  });

  it('drops the days past retention from the store, for every model, and keeps the rest', async () => {
    const store = openStore();
    const [old, recent] = [`m-${randomUUID().slice(0, 8)}`, `m-${randomUUID().slice(0, 8)}`];
    const log = await serverLog(store);
    await log.record(answers(old, 'old', 3, Date.now() - 40 * DAY_MS));
    await log.record(answers(recent, 'new', 4, Date.now() - 2 * DAY_MS));
    await log.flush();
    const parts = new PredictionParts(store, path.join(dir, `retention-${randomUUID()}`));
    expect(await parts.dropExpired(30)).toBeGreaterThanOrEqual(1);
    expect(await entitiesSeen(store, old)).toEqual([]);
    expect(await entitiesSeen(store, recent)).toHaveLength(4);
  });
}

/** `store`, with writes failing while `down` is set: an S3 outage as the log meets it. */
function flakyStore(store: BlobStore): BlobStore & { down: boolean } {
  const flaky = Object.create(store) as BlobStore & { down: boolean };
  flaky.down = false;
  flaky.put = (key, body, options) =>
    flaky.down
      ? Promise.reject(new Error(`store unreachable writing ${key}`))
      : store.put(key, body, options);
  return flaky;
}

describe('the prediction log while its store is down', () => {
  it('keeps recording, counts the failed turns, and uploads the kept journals once the store is back', async () => {
    const store = flakyStore(new FileBlobStore(path.join(dir, `store-${randomUUID()}`)));
    const model = `m-${randomUUID().slice(0, 8)}`;
    const log = await PredictionLog.open(path.join(dir, `server-${randomUUID()}`), {
      store,
      flushMs: 50,
      orphanMs: 0,
      logger: quiet,
    });
    opened.push(log);
    store.down = true;
    await log.record(answers(model, 'during', 8, Date.now()));
    await log.flush();
    expect(log.faults.count('turn')).toBeGreaterThanOrEqual(1);
    await log.record(answers(model, 'still', 2, Date.now()));

    store.down = false;
    await log.flush();
    const seen = await eventually('the kept journal to be uploaded', async () => {
      const entities = await entitiesSeen(store, model);
      return entities.length === 10 && entities;
    });
    expect(new Set(seen).size).toBe(10);
  });
});

describe('the prediction log on a file store', () => {
  storeContract(() => new FileBlobStore(path.join(dir, `store-${randomUUID()}`)));
});

describe('the prediction log on S3 (MinIO)', () => {
  const bucket = `test-${randomUUID()}`;
  const minio = inject('minio');
  beforeAll(() => ensureBucket(minio, bucket), 30_000);
  afterAll(() => removeBucket(minio, bucket), 30_000);
  storeContract(() => s3StoreOn(minio, bucket));
});
