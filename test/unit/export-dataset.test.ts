import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { openDataset, loadManifest, manifestKey, type LoadedSplit } from '../../datasets/dataset-io';
import { createExportDataset, datasetKey } from '../../activities/export-dataset';
import { DatasetManifestSchema, type DatasetManifest } from '../../common/artefacts';
import { ErrorType } from '../../common/errors';
import { ModelSpecSchema, type ModelSpecInput } from '../../common/model-spec';
import { sqlString, withDuckDb } from '../../storage/duckdb';
import type { BlobStore } from '../../storage/blob-store';
import { getJson, putJson } from '../../storage/open-store';
import { localDeps } from '../helpers/pipeline';

type BufferRow = [ts: string, host: string, cpu: number, mem: number];

/**
 * Hourly metrics of three hosts. The newest record is 2024-05-02T07:00, so a 2-day window holds
 * what is newer than 2024-04-30T07:00: 26 records (c's first two rows lie outside). Host b misses
 * 2024-05-01T02:00, host a has a 16-hour hole on 2024-05-01, and cpu ranges never overlap between
 * hosts (a 14-27, b 50-67, c 90-96), so a value in the wrong host's row is visible.
 */
const BUFFER: BufferRow[] = [
  ['2024-04-30T06:00', 'c', 90, 9],
  ['2024-04-30T07:00', 'c', 91, 9],
  ['2024-05-01T00:00', 'b', 50, 5],
  ['2024-05-01T01:00', 'b', 51, 5],
  ['2024-05-01T03:00', 'b', 53, 5],
  ['2024-05-01T04:00', 'a', 14, 1],
  ['2024-05-01T04:00', 'c', 94, 9],
  ['2024-05-01T05:00', 'a', 15, 1],
  ['2024-05-01T05:00', 'c', 95, 9],
  ['2024-05-01T06:00', 'a', 16, 1],
  ['2024-05-01T06:00', 'c', 96, 9],
  ['2024-05-01T07:00', 'a', 17, 1],
  ...[0, 1, 2, 3, 4, 5, 6, 7].flatMap((h): BufferRow[] => [
    [`2024-05-02T0${h}:00`, 'a', 20 + h, 2],
    [`2024-05-02T0${h}:00`, 'b', 60 + h, 5],
  ]),
];

const COLUMNS = ['host', 'ts', 'cpu', 'mem'];

/** The stored file: every row from 24 h before the window start (2024-05-01T00:00) on, in (time, entity) order. */
const STORED = [...BUFFER]
  .sort(([ta, ea], [tb, eb]) => (ta === tb ? ea.localeCompare(eb) : ta.localeCompare(tb)))
  .map(([ts, host, cpu, mem]) => [host, ts, cpu, mem]);

// Worked out by hand from BUFFER: lookback 2, horizon 1, forecast of cpu. 20 samples; the cut
// is the 0.8 discrete quantile of their times (the 16th of 20, 2024-05-02T04:00). Train samples have
// their target before the cut, holdout samples start at it, and the two at 03:00 (target at the
// cut) are in neither. Columns: entity, time of the newest input, cpu_lag1, mem_lag1, cpu_lag0,
// mem_lag0, target (cpu one record later), cpu of the same host 24 h before the target time.
const TRAIN = [
  ['b', '2024-05-01T01:00', 50, 5, 51, 5, 53, null],
  ['b', '2024-05-01T03:00', 51, 5, 53, 5, 60, 50],
  ['a', '2024-05-01T05:00', 14, 1, 15, 1, 16, null],
  ['c', '2024-05-01T05:00', 94, 9, 95, 9, 96, 90],
  ['a', '2024-05-01T06:00', 15, 1, 16, 1, 17, null],
  ['a', '2024-05-01T07:00', 16, 1, 17, 1, 20, null],
  ['a', '2024-05-02T00:00', 17, 1, 20, 2, 21, null],
  ['b', '2024-05-02T00:00', 53, 5, 60, 5, 61, 51],
  ['a', '2024-05-02T01:00', 20, 2, 21, 2, 22, null],
  ['b', '2024-05-02T01:00', 60, 5, 61, 5, 62, null],
  ['a', '2024-05-02T02:00', 21, 2, 22, 2, 23, null],
  ['b', '2024-05-02T02:00', 61, 5, 62, 5, 63, 53],
];
const HOLDOUT = [
  ['a', '2024-05-02T04:00', 23, 2, 24, 2, 25, 15],
  ['b', '2024-05-02T04:00', 63, 5, 64, 5, 65, null],
  ['a', '2024-05-02T05:00', 24, 2, 25, 2, 26, 16],
  ['b', '2024-05-02T05:00', 64, 5, 65, 5, 66, null],
  ['a', '2024-05-02T06:00', 25, 2, 26, 2, 27, 17],
  ['b', '2024-05-02T06:00', 65, 5, 66, 5, 67, null],
];

/** Sums over the 12 train rows, by hand: cpu_lag0, mem_lag0 and y, and their squares. */
const TRAIN_SUMS = {
  cpu: { sum: 493, squares: 27695 },
  mem: { sum: 43, squares: 221 },
  y: { sum: 514, squares: 29558 },
};
const mean = (s: { sum: number }) => s.sum / 12;
const std = (s: { sum: number; squares: number }) => Math.sqrt(s.squares / 12 - mean(s) ** 2);

let dir: string;
let deps: ActivityDeps;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-export-test-'));
  deps = localDeps(dir);
});
afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/** A fresh model (unique name) with the spec saved and `rows` in its buffer. */
async function createModel(overrides: Partial<ModelSpecInput> = {}, rows = BUFFER): Promise<string> {
  const spec = ModelSpecSchema.parse({
    name: `export-${randomUUID().slice(0, 8)}`,
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'host',
    features: ['cpu', 'mem'],
    target: 'cpu',
    lookback: 2,
    horizon: 1,
    windowDays: 2,
    minRecords: 26,
    ...overrides,
  });
  await deps.registry.saveSpec(spec);
  if (rows.length) await appendRows(spec.name, rows);
  return spec.name;
}

async function appendRows(model: string, rows: BufferRow[], buffer = deps.buffer): Promise<void> {
  const values = rows
    .map(
      ([ts, host, cpu, mem]) =>
        `(TIMESTAMP ${sqlString(ts)}, ${sqlString(host)}, ${cpu}::DOUBLE, ${mem}::DOUBLE)`,
    )
    .join(', ');
  await withDuckDb((conn) =>
    buffer.appendQuery(conn, model, `SELECT * FROM (VALUES ${values}) t(ts, host, cpu, mem)`, {
      timeColumn: 'ts',
      entityColumn: 'host',
    }),
  );
}

async function manifestOf(model: string, workflowId: string): Promise<DatasetManifest> {
  const found = await getJson(
    deps.store,
    `${datasetKey(model, workflowId)}/manifest.json`,
    DatasetManifestSchema,
  );
  if (!found) throw new Error(`no manifest for ${model}/${workflowId}`);
  return found.value;
}

/**
 * Puts of several attempts, each through its own `store(inner, attempt)`, that happen in `order`: a
 * put matching the next untaken step `[attempt, key pattern]` waits until every earlier step's put
 * has settled. Other puts pass at once.
 */
function inTurn(order: [attempt: string, key: RegExp][]) {
  const settled = order.map(() => {
    let resolve: () => void = () => undefined;
    return { promise: new Promise<void>((r) => (resolve = r)), resolve: () => resolve() };
  });
  const taken = order.map(() => false);
  return {
    taken: () => taken.filter(Boolean).length,
    store(inner: BlobStore, attempt: string): BlobStore {
      return {
        uri: inner.uri,
        get: (key) => inner.get(key),
        list: (prefix) => inner.list(prefix),
        listPrefixes: (prefix) => inner.listPrefixes(prefix),
        delete: (key) => inner.delete(key),
        uriFor: (key) => inner.uriFor(key),
        async put(key, body, options) {
          const step = order.findIndex(
            ([who, pattern], i) => !taken[i] && who === attempt && pattern.test(key),
          );
          if (step < 0) return inner.put(key, body, options);
          taken[step] = true;
          await Promise.all(settled.slice(0, step).map((s) => s.promise));
          try {
            return await inner.put(key, body, options);
          } finally {
            settled[step]?.resolve();
          }
        },
      };
    },
  };
}

/** The stored file: its bytes, its column names and types, and its rows in file order (time as text). */
async function readStored(manifest: DatasetManifest) {
  const blob = await deps.store.get(manifest.files.rows.key);
  if (!blob) throw new Error(`${manifest.files.rows.key} is missing`);
  const file = path.join(dir, `${randomUUID()}.parquet`);
  await fs.writeFile(file, blob.body);
  return withDuckDb(async (conn) => {
    const described = await conn.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet(${sqlString(file)})`);
    const reader = await conn.runAndReadAll(
      `SELECT * REPLACE (strftime(ts, '%Y-%m-%dT%H:%M') AS ts) FROM read_parquet(${sqlString(file)})`,
    );
    return {
      body: blob.body,
      columns: described.getRowObjectsJson().map((r) => [String(r.column_name), String(r.column_type)]),
      rows: reader.getRowsJson() as (string | number | null)[][],
    };
  });
}

/**
 * A loaded split as hand-computed table rows: the lag windows de-normalised (rounded: they went
 * through float32), the target in its units and the day before (null where missing). No entity
 * or time: the loader does not keep them, so the first two columns of TRAIN/HOLDOUT are left out.
 */
function samplesOf(split: LoadedSplit, pre: DatasetManifest['preprocessing']) {
  const { rows, width } = split.data;
  const x = new Float32Array(rows * width);
  split.data.gatherX(undefined, 0, rows, x);
  const nf = pre.features.length;
  return Array.from({ length: rows }, (_, r) => [
    ...Array.from({ length: width }, (_, c) => {
      const f = c % nf;
      return (
        Math.round(((x[r * width + c] as number) * (pre.std[f] as number) + (pre.mean[f] as number)) * 1e4) /
        1e4
      );
    }),
    split.yRaw[r] as number,
    Number.isNaN(split.dayBefore[r]) ? null : (split.dayBefore[r] as number),
  ]);
}

const withoutKeys = (table: (string | number | null)[][]) => table.map((r) => r.slice(2));

describe('exportDataset', () => {
  it('stores each row of the window once, with the day before it, in (time, entity) order under the buffer names', async () => {
    const model = await createModel();
    const result = await createExportDataset(deps)({ model, workflowId: 'wf-exact' });
    expect(result).toEqual({
      status: 'ready',
      datasetKey: datasetKey(model, 'wf-exact'),
      trainRows: 12,
      holdoutRows: 6,
      features: 4,
    });
    const stored = await readStored(await manifestOf(model, 'wf-exact'));
    expect(stored.rows).toEqual(STORED);
    expect(stored.columns).toEqual([
      ['host', 'VARCHAR'],
      ['ts', 'TIMESTAMP'],
      ['cpu', 'DOUBLE'],
      ['mem', 'DOUBLE'],
    ]);
  });

  it('gives the loader exactly the hand-computed samples: lag windows, lead target and day before, split by one time cut', async () => {
    const model = await createModel();
    await createExportDataset(deps)({ model, workflowId: 'wf-samples' });
    const manifest = await manifestOf(model, 'wf-samples');
    const { train, holdout } = (await openDataset(deps.store, manifest)).splits();
    expect(samplesOf(train, manifest.preprocessing)).toEqual(withoutKeys(TRAIN));
    expect(samplesOf(holdout, manifest.preprocessing)).toEqual(withoutKeys(HOLDOUT));
    expect(holdout.lastValues.map((v) => Array.from(v))).toEqual([
      HOLDOUT.map((r) => r[4]),
      HOLDOUT.map((r) => r[5]),
    ]);
    const cpu = (v: number) => (v - mean(TRAIN_SUMS.cpu)) / std(TRAIN_SUMS.cpu);
    const mem = (v: number) => (v - mean(TRAIN_SUMS.mem)) / std(TRAIN_SUMS.mem);
    const first = new Float32Array(4);
    holdout.data.gatherX(undefined, 0, 1, first);
    [cpu(23), mem(2), cpu(24), mem(2)].forEach((v, i) => expect(first[i]).toBeCloseTo(v, 5));
    expect(holdout.data.y[0]).toBeCloseTo((25 - mean(TRAIN_SUMS.y)) / std(TRAIN_SUMS.y), 5);
  });

  it('never builds a window or a target across entities', async () => {
    const model = await createModel();
    await createExportDataset(deps)({ model, workflowId: 'wf-leak' });
    const manifest = await manifestOf(model, 'wf-leak');
    const { train, holdout } = (await openDataset(deps.store, manifest)).splits();
    const cpuRange: [number, number][] = [
      [14, 27],
      [50, 67],
      [90, 96],
    ];
    for (const split of [train, holdout]) {
      for (const [cpuLag1, , cpuLag0, , y, dayBefore] of samplesOf(split, manifest.preprocessing)) {
        const range = cpuRange.find(([lo, hi]) => (cpuLag0 as number) >= lo && (cpuLag0 as number) <= hi);
        expect(range).toBeDefined();
        const [lo, hi] = range!;
        for (const value of [cpuLag1, y, dayBefore ?? lo]) {
          expect(value as number).toBeGreaterThanOrEqual(lo);
          expect(value as number).toBeLessThanOrEqual(hi);
        }
      }
    }
  });

  it('computes the normalisation statistics on the train samples only and records an accurate manifest', async () => {
    const model = await createModel();
    await createExportDataset(deps)({ model, workflowId: 'wf-manifest' });
    const manifest = await manifestOf(model, 'wf-manifest');
    const pre = manifest.preprocessing;
    expect(pre.mean[0]).toBeCloseTo(mean(TRAIN_SUMS.cpu), 10);
    expect(pre.std[0]).toBeCloseTo(std(TRAIN_SUMS.cpu), 10);
    expect(pre.mean[1]).toBeCloseTo(mean(TRAIN_SUMS.mem), 10);
    expect(pre.std[1]).toBeCloseTo(std(TRAIN_SUMS.mem), 10);
    expect(pre.targetMean).toBeCloseTo(mean(TRAIN_SUMS.y), 10);
    expect(pre.targetStd).toBeCloseTo(std(TRAIN_SUMS.y), 10);
    expect(pre).toMatchObject({ features: ['cpu', 'mem'], target: 'cpu', lookback: 2, horizon: 1 });

    expect(manifest.columns).toEqual(COLUMNS);
    expect(manifest.window).toEqual({ from: '2024-05-01T00:00:00Z', to: '2024-05-02T07:00:00Z', days: 2 });
    expect(manifest.rows).toEqual({ train: 12, holdout: 6 });
    expect(manifest.timeRange).toEqual({
      trainFrom: '2024-05-01T01:00:00Z',
      trainTo: '2024-05-02T02:00:00Z',
      holdoutFrom: '2024-05-02T04:00:00Z',
      holdoutTo: '2024-05-02T06:00:00Z',
    });
    const entry = manifest.files.rows;
    const { body, rows } = await readStored(manifest);
    expect(entry.key).toMatch(
      new RegExp(`^${datasetKey(model, 'wf-manifest')}/rows-[0-9a-f-]{36}\\.parquet$`),
    );
    expect(entry.sha256).toBe(createHash('sha256').update(body).digest('hex'));
    expect(entry.bytes).toBe(body.byteLength);
    expect(rows).toHaveLength(BUFFER.length);
  });

  it('stores a target that is not a feature after the features, and builds the target from it', async () => {
    const model = await createModel({ features: ['mem'], target: 'cpu' });
    await createExportDataset(deps)({ model, workflowId: 'wf-target' });
    const manifest = await manifestOf(model, 'wf-target');
    expect(manifest.columns).toEqual(['host', 'ts', 'mem', 'cpu']);
    const { holdout } = (await openDataset(deps.store, manifest)).splits();
    expect(Array.from(holdout.yRaw)).toEqual(HOLDOUT.map((r) => r[6]));
    expect(holdout.data.width).toBe(2);
  });

  it('returns the first dataset on a retry and writes no second one, even when the buffer grew', async () => {
    const model = await createModel();
    const exportDataset = createExportDataset(deps);
    const first = await exportDataset({ model, workflowId: 'wf-retry' });
    const prefix = `${datasetKey(model, 'wf-retry')}/`;
    const snapshot = async () =>
      Object.fromEntries(
        await Promise.all(
          (await deps.store.list(prefix)).map(async (k) => [k, (await deps.store.get(k))?.etag] as const),
        ),
      );
    const before = await snapshot();
    await appendRows(model, [['2024-05-02T08:00', 'a', 28, 2]]);
    const second = await exportDataset({ model, workflowId: 'wf-retry' });
    expect(second).toEqual(first);
    expect(await snapshot()).toEqual(before);
    expect(Object.keys(before).sort()).toEqual([
      `${prefix}manifest.json`,
      (await manifestOf(model, 'wf-retry')).files.rows.key,
    ]);
    expect(await deps.store.list(`datasets/${model}/`)).toEqual(Object.keys(before).sort());
  });

  it('leaves a manifest that matches the file it names when two attempts interleave their writes', async () => {
    const model = await createModel();
    // The later attempt sees a grown buffer, so the two attempts write different files.
    const grown = localDeps(path.join(dir, `grown-${model}`), deps.store).buffer;
    await appendRows(model, [...BUFFER, ['2024-05-02T08:00', 'a', 28, 2]], grown);
    const turns = inTurn([
      ['stale', /\/rows[^/]*\.parquet$/],
      ['retry', /\/rows[^/]*\.parquet$/],
      ['retry', /\/manifest\.json$/],
      ['stale', /\/manifest\.json$/],
    ]);
    const input = { model, workflowId: 'wf-interleaved' };
    const [stale, retry] = await Promise.all([
      createExportDataset({ ...deps, store: turns.store(deps.store, 'stale') })(input),
      createExportDataset({ ...deps, buffer: grown, store: turns.store(deps.store, 'retry') })(input),
    ]);
    expect(turns.taken()).toBe(4);
    expect(stale).toEqual(retry);
    const manifest = await manifestOf(model, 'wf-interleaved');
    expect(manifest.window.to).toBe('2024-05-02T08:00:00Z');
    const { body } = await readStored(manifest);
    expect(createHash('sha256').update(body).digest('hex')).toBe(manifest.files.rows.sha256);
    await expect(openDataset(deps.store, manifest)).resolves.toBeDefined();
    // The losing attempt's file is gone: the folder holds the dataset and nothing else.
    expect(await deps.store.list(`${datasetKey(model, 'wf-interleaved')}/`)).toEqual(
      [manifest.files.rows.key, manifestKey(datasetKey(model, 'wf-interleaved'))].sort(),
    );
  });

  it('writes a byte-identical file for the same buffer, so a dataset is reproducible', async () => {
    const model = await createModel();
    const exportDataset = createExportDataset(deps);
    await exportDataset({ model, workflowId: 'wf-same-1' });
    await exportDataset({ model, workflowId: 'wf-same-2' });
    const [a, b] = [await manifestOf(model, 'wf-same-1'), await manifestOf(model, 'wf-same-2')];
    expect(b.files.rows.sha256).toBe(a.files.rows.sha256);
    expect(b.preprocessing).toEqual(a.preprocessing);
  });

  it('rejects a window with fewer than minRecords records as insufficient and writes nothing', async () => {
    const model = await createModel({ minRecords: 27 });
    const exportDataset = createExportDataset(deps);
    expect(await exportDataset({ model, workflowId: 'wf-short' })).toEqual({
      status: 'insufficient',
      reason: 'Insufficient data: 26 < 27 records in the last 2 days',
    });
    expect(await exportDataset({ model, workflowId: 'wf-short-1d', windowDays: 1, minRecords: 17 })).toEqual({
      status: 'insufficient',
      reason: 'Insufficient data: 16 < 17 records in the last 1 days',
    });
    expect(await deps.store.list(`datasets/${model}/`)).toEqual([]);
    // Exactly minRecords is enough.
    expect((await exportDataset({ model, workflowId: 'wf-enough', minRecords: 26 })).status).toBe('ready');
  });

  it('rejects a window whose records fall on fewer than minDays days', async () => {
    const model = await createModel({ minDays: 2 });
    const exportDataset = createExportDataset(deps);
    // The last 24 h of the fixture fall on one calendar day: enough records, too few days.
    expect(await exportDataset({ model, workflowId: 'wf-one-day', windowDays: 1, minRecords: 1 })).toEqual({
      status: 'insufficient',
      reason: 'Insufficient data: 1 < 2 days with records in the last 1 days',
    });
    expect(await deps.store.list(`datasets/${model}/`)).toEqual([]);
    expect((await exportDataset({ model, workflowId: 'wf-two-days' })).status).toBe('ready');
  });

  it('fails a window too short to split, naming the model, and leaves nothing in the store', async () => {
    const model = await createModel({ lookback: 30, minRecords: 1 });
    await expect(createExportDataset(deps)({ model, workflowId: 'wf-too-short' })).rejects.toThrow(
      `The window of ${model} has too few time steps to split into train and holdout`,
    );
    expect(await deps.store.list(`datasets/${model}/`)).toEqual([]);
  });

  it('rejects a model whose buffer is empty, naming it', async () => {
    const model = await createModel({}, []);
    expect(await createExportDataset(deps)({ model, workflowId: 'wf-empty' })).toEqual({
      status: 'insufficient',
      reason: `Insufficient data: the buffer of ${model} is empty`,
    });
  });

  it('thresholds the target for classifiers while the day before stays the raw target', async () => {
    const model = await createModel({ task: 'classify', threshold: 20 });
    await createExportDataset(deps)({ model, workflowId: 'wf-classify' });
    const manifest = await manifestOf(model, 'wf-classify');
    const { train, holdout } = (await openDataset(deps.store, manifest)).splits();
    expect(Array.from(train.yRaw)).toEqual([1, 1, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1]);
    expect(Array.from(holdout.yRaw)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(train.data.y)).toEqual(Array.from(train.yRaw));
    const raw = (table: (string | number | null)[][]) => table.map((r) => r[7] ?? NaN);
    expect(Array.from(train.dayBefore)).toEqual(raw(TRAIN));
    expect(Array.from(holdout.dayBefore)).toEqual(raw(HOLDOUT));
    expect(manifest.preprocessing).toMatchObject({ targetMean: 0, targetStd: 1 });
  });
});

describe('openDataset', () => {
  it('refuses a file that is not the one the manifest describes', async () => {
    const model = await createModel();
    await createExportDataset(deps)({ model, workflowId: 'wf-corrupt' });
    const manifest = await manifestOf(model, 'wf-corrupt');
    const key = manifest.files.rows.key;
    await expect(
      openDataset(deps.store, {
        ...manifest,
        files: { rows: { ...manifest.files.rows, sha256: '0'.repeat(64) } },
      }),
    ).rejects.toMatchObject({
      type: ErrorType.CorruptArtefact,
      message: `Dataset file ${deps.store.uriFor(key)} is missing or does not match its sha256`,
    });
    await expect(
      openDataset(deps.store, { ...manifest, rows: { train: 11, holdout: 6 } }),
    ).rejects.toMatchObject({
      type: ErrorType.CorruptArtefact,
      message: `Dataset file ${deps.store.uriFor(key)} gives 12 train / 6 holdout samples, the manifest says 11 / 6`,
    });
  });

  it('answers a manifest of the old two-file format with a non-retryable error that says to export again', async () => {
    const model = await createModel();
    await createExportDataset(deps)({ model, workflowId: 'wf-old' });
    const key = datasetKey(model, 'wf-old');
    const manifest = await manifestOf(model, 'wf-old');
    const file = { key: `${key}/train.parquet`, sha256: '0', bytes: 0 };
    await putJson(deps.store, `${key}/manifest.json`, { ...manifest, files: { train: file, holdout: file } });
    await expect(loadManifest(deps.store, key)).rejects.toMatchObject({
      type: ErrorType.CorruptArtefact,
      nonRetryable: true,
      message: expect.stringContaining('are not read any more: export again'),
    });
  });
});
