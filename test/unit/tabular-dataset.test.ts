import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createExportDataset } from '../../activities/export-dataset';
import type { Preprocessing } from '../../common/artefacts';
import { ModelSpecSchema } from '../../common/model-spec';
import { loadManifest, openDataset, readWindowRows } from '../../datasets/dataset-io';
import { indexSamples, type WindowRows } from '../../ml/windows';
import { tabularBaselines, tabularMetrics } from '../../ml/tabular';
import { buildFeatures, FeatureError } from '../../serving/features';
import { answers } from '../../serving/predict-route';
import { withDuckDb } from '../../storage/duckdb';
import { bufferKey } from '../../storage/row-check';
import { localDeps } from '../helpers/pipeline';

describe('horizon-0 sampling', () => {
  // Ten rows of one entity at times 1..10; row 2 lacks a feature, row 4 its target.
  const rows: WindowRows = {
    count: 10,
    entity: new Int32Array(10),
    names: ['all'],
    time: Float64Array.from({ length: 10 }, (_, i) => i + 1),
    values: [
      Float64Array.from({ length: 10 }, (_, i) => (i === 2 ? NaN : i)),
      Float64Array.from({ length: 10 }, (_, i) => (i === 4 ? NaN : 10 * i)),
    ],
  };
  const rule = { task: 'regress' as const, lookback: 1, horizon: 0, features: 1, target: 1, windowFrom: 0 };

  it('makes each complete row with a target one sample, its own input and target, split by time', () => {
    const index = indexSamples(rows, rule);
    expect(Array.from(index.inputs)).toEqual([0, 1, 3, 5, 6, 7, 8, 9]);
    expect(Array.from(index.targets)).toEqual(Array.from(index.inputs));
    // The cut is the 0.8 discrete quantile of the 8 sample times: the 7th, time 9.
    expect(index.cut).toBe(9);
    expect(Array.from(index.train).map((s) => index.time[s])).toEqual([1, 2, 4, 6, 7, 8]);
    expect(Array.from(index.holdout).map((s) => index.time[s])).toEqual([9, 10]);
  });

  it('leaves rows before the window out, and takes every complete row of a clusterer (no target)', () => {
    expect(indexSamples(rows, { ...rule, windowFrom: 4 }).inputs.length).toBe(6);
    expect(indexSamples(rows, { ...rule, task: 'cluster', target: -1 }).inputs.length).toBe(9);
  });
});

describe('tabular datasets, baselines and /predict rows', () => {
  let dir: string;
  let deps: ActivityDeps;
  const spec = ModelSpecSchema.parse({
    name: 'tabular-rows',
    task: 'regress',
    timeColumn: 'observed_at',
    features: ['x'],
    target: 'y',
    horizon: 0,
    lookback: 1,
    windowDays: 30,
    minRecords: 10,
  });

  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-tabular-test-'));
    deps = localDeps(dir);
    await deps.registry.saveSpec(spec);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('keeps rows that share a time without an entity column, skipping only repeats of a whole row', async () => {
    // 100 rows over 50 hours, two per hour; y = 2x + 1.
    const query = `SELECT TIMESTAMP '2024-03-01' + INTERVAL (i // 2) HOUR AS observed_at, i::DOUBLE AS x, (2 * i + 1)::DOUBLE AS y FROM range(100) r(i)`;
    const first = await withDuckDb((conn) =>
      deps.buffer.appendQuery(conn, spec.name, query, bufferKey(spec)),
    );
    expect(first).toEqual({ inserted: 100, duplicates: 0 });
    const again = await withDuckDb((conn) =>
      deps.buffer.appendQuery(conn, spec.name, query, bufferKey(spec)),
    );
    expect(again).toEqual({ inserted: 0, duplicates: 100 });
  });

  it('exports without an entity column and reads each row back as a sample, with mean and median baselines', async () => {
    const exported = await createExportDataset(deps)({ model: spec.name, workflowId: 'wf-tabular' });
    expect(exported.status).toBe('ready');
    const manifest = await loadManifest(deps.store, `datasets/${spec.name}/wf-tabular`);
    expect(manifest.columns).toEqual(['observed_at', 'x', 'y']);
    expect(manifest.rows.train + manifest.rows.holdout).toBe(100);
    expect(manifest.preprocessing.entityColumn).toBeUndefined();
    const dataset = await openDataset(deps.store, manifest);
    const { train, holdout } = dataset.splits();
    expect(Array.from(holdout.yRaw).every((y, k) => y === 2 * (holdout.lastValues[0]?.[k] ?? NaN) + 1)).toBe(
      true,
    );
    const baselines = tabularBaselines(train, holdout, manifest.preprocessing);
    const trainY = Array.from(train.yRaw).sort((a, b) => a - b);
    const mean = trainY.reduce((a, b) => a + b, 0) / trainY.length;
    expect(baselines.mean?.values[0]).toBeCloseTo(mean, 9);
    expect(baselines.median?.values[0]).toBeCloseTo(
      ((trainY[trainY.length / 2 - 1] as number) + (trainY[trainY.length / 2] as number)) / 2,
      9,
    );
    const perfect = tabularMetrics(holdout, 'regress', { values: holdout.yRaw, width: 1 });
    expect(perfect).toMatchObject({ mae: 0, rmse: 0, r2: 1, spearman: 1 });
  });

  it('reads a multi-class target as its index among the sorted classes', async () => {
    const rows = await withDuckDb(async (conn) => {
      await conn.run(
        `CREATE TABLE t AS SELECT * FROM (VALUES (TIMESTAMP '2024-01-01', 1.0, '10'), (TIMESTAMP '2024-01-02', 2.0, '9'), (TIMESTAMP '2024-01-03', 3.0, '7'), (TIMESTAMP '2024-01-04', 4.0, NULL)) v(ts, x, kind)`,
      );
      return readWindowRows(conn, 't', {
        timeColumn: 'ts',
        features: ['x'],
        target: 'kind',
        classes: ['7', '9', '10'],
      });
    });
    expect(Array.from(rows.values[1] as Float64Array)).toEqual([2, 1, 0, NaN]);
    expect(rows.names).toEqual(['all']);
  });

  it('builds one input per /predict row without the label, and names a bad field', () => {
    const pre: Preprocessing = {
      task: 'regress',
      timeColumn: 'observed_at',
      features: ['x', 'z'],
      target: 'y',
      lookback: 1,
      horizon: 0,
      mean: [1, 10],
      std: [2, 5],
      targetMean: 100,
      targetStd: 10,
    };
    const batch = buildFeatures(
      [
        { observed_at: '2024-03-01T00:00:00Z', x: 3, z: 20 },
        { observed_at: '2024-03-01T00:00:00Z', x: 1, z: 10 },
      ],
      pre,
    );
    expect(Array.from(batch.x)).toEqual([1, 2, 0, 0]);
    expect(batch.keys.map((k) => [k.entity, k.time, k.value(0.5)])).toEqual([
      [undefined, '2024-03-01T00:00:00.000Z', 105],
      [undefined, '2024-03-01T00:00:00.000Z', 105],
    ]);
    expect(() => buildFeatures([{ observed_at: '2024-03-01T00:00:00Z', z: 1, y: 100 }], pre)).toThrow(
      new FeatureError('invalid rows: rows[0].x: is required (each row needs the time and features (x, z))'),
    );
  });

  it('answers a multi-class classifier with the class name, its probability and every probability', () => {
    const pre = {
      task: 'classify',
      classes: ['bus', 'car', 'van'],
    } as Preprocessing;
    const features = {
      x: new Float32Array(2),
      width: 1,
      keys: [0, 1].map(() => ({ time: 't', value: (o: number) => o })),
    };
    expect(answers(pre, features, [0.1, 0.7, 0.2, 0.5, 0.2, 0.3])).toEqual([
      { time: 't', value: 0.7, label: 'car', probabilities: { bus: 0.1, car: 0.7, van: 0.2 } },
      { time: 't', value: 0.5, label: 'bus', probabilities: { bus: 0.5, car: 0.2, van: 0.3 } },
    ]);
    expect(answers({ ...pre, classes: undefined, threshold: 0.5 }, features, [0.8, 0.1])).toEqual([
      { time: 't', value: 0.8, label: 1 },
      { time: 't', value: 0.1, label: 0 },
    ]);
  });
});
