import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { createExportDataset } from '../../activities/export-dataset';
import { withFeatureFrame } from '../../activities/export-frame';
import { createValidateModel } from '../../activities/validate-model';
import type { ModelSpec } from '../../common/model-spec';
import type { ExportResult, ValidateResult } from '../../common/stages';
import { saveCandidatePreprocessing } from '../../datasets/candidate-files';
import { loadManifest, openDataset } from '../../datasets/dataset-io';
import { featureNames, framePrefix, readFrameInfo, type FrameInfo } from '../../datasets/feature-frame';
import { selectBackend } from '../../ml/backend';
import { forecastMetrics } from '../../ml/metrics';
import { loadFlightsIntoBuffer } from '../../storage/demo-data';
import { sqlString, withDuckDb } from '../../storage/duckdb';
import { flightSpec, localDeps, PERMISSIVE_GATE, TEST_FLIGHTS } from '../helpers/local-pipeline';
import { linearOnnx } from '../helpers/onnx-graph';

type FrameRow = Record<string, number | string | bigint>;

/** The frame's rows as DuckDB reads them back, in file order. */
async function frameRows(dir: string, body: Uint8Array): Promise<FrameRow[]> {
  const file = path.join(dir, 'frame.parquet');
  await fs.writeFile(file, body);
  return withDuckDb(async (conn) =>
    (await conn.runAndReadAll(`SELECT * FROM read_parquet(${sqlString(file)})`)).getRowObjects(),
  ) as Promise<FrameRow[]>;
}

/*
 * The feature frame of a python spec (docs/trainers.md): what the export writes is what training,
 * validation and /predict build from the same rows, and an ONNX candidate over it is validated on
 * exactly those inputs.
 */
describe('the feature frame of a python-trainer spec', { timeout: 120_000 }, () => {
  let dir: string;
  let deps: ActivityDeps;
  let spec: ModelSpec;
  let datasetKey: string;
  let info: FrameInfo;
  let rows: FrameRow[];
  const env = new MockActivityEnvironment();
  const exportDataset = (d: ActivityDeps) => withFeatureFrame(d, createExportDataset(d));

  beforeAll(async () => {
    await selectBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-feature-frame-'));
    deps = localDeps(dir);
    spec = flightSpec({
      trainer: 'python',
      frequency: '1h',
      hyperparams: { architecture: 'xgboost', params: { max_depth: 3 } },
      gate: PERMISSIVE_GATE,
    });
    await deps.registry.saveSpec(spec);
    await loadFlightsIntoBuffer(deps.buffer, [spec.name], TEST_FLIGHTS);
    const exported = (await env.run(exportDataset(deps), {
      model: spec.name,
      workflowId: 'wf-frame',
    })) as ExportResult;
    if (exported.status !== 'ready') throw new Error(exported.reason);
    datasetKey = exported.datasetKey;
    const found = await readFrameInfo(deps.store, datasetKey);
    if (!found) throw new Error('no frame.json');
    info = found;
    const parquet = await deps.store.get(`${framePrefix(datasetKey)}/frame.parquet`);
    if (!parquet) throw new Error('no frame.parquet');
    rows = await frameRows(dir, parquet.body);
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it("describes the dataset's samples: counts, columns in model order and their names", async () => {
    const manifest = await loadManifest(deps.store, datasetKey);
    const width = info.featureColumns.length;
    expect(info.task).toBe('forecast');
    expect(info.rows).toEqual(manifest.rows);
    expect(info.classes).toBeNull();
    expect(info.featureColumns).toEqual(Array.from({ length: width }, (_, i) => `f${i}`));
    expect(info.featureNames).toEqual(featureNames(info.preprocessing));
    // Each of the spec's lookback steps: its features, then hourOfDay and dayOfWeek as sine and cosine.
    expect(width).toBe(spec.lookback * (spec.features.length + 4));
    expect(info.featureNames.slice(-width / spec.lookback)).toEqual([
      ...spec.features.map((f) => `${f}@t-0`),
      'hourOfDay.sin@t-0',
      'hourOfDay.cos@t-0',
      'dayOfWeek.sin@t-0',
      'dayOfWeek.cos@t-0',
    ]);
    expect(info.preprocessing).toMatchObject({ normalisation: 'entity', targetTransform: 'change' });
    expect(rows).toHaveLength(manifest.rows.train + manifest.rows.holdout);
    expect(Object.keys(rows[0] ?? {})).toEqual([
      '__entity',
      '__time',
      '__split',
      '__target',
      '__actual',
      '__outScale',
      '__outOffset',
      '__naiveScale',
      ...info.featureColumns,
    ]);
  });

  it('holds exactly the inputs and targets ml/windows builds under the frame preprocessing', async () => {
    const manifest = await loadManifest(deps.store, datasetKey);
    const { train, holdout } = (await openDataset(deps.store, manifest)).splits(info.preprocessing);
    const width = info.featureColumns.length;
    const x = new Float32Array(width);
    const check = (split: typeof train, name: string, offset: number, k: number) => {
      const row = rows[offset + k] as FrameRow;
      split.data.gatherX(undefined, k, 1, x);
      expect(row.__split).toBe(name);
      expect(row.__entity).toBe(split.names[split.entity[k] as number]);
      expect(row.__target).toBe(split.data.y[k]);
      // What validation scores against, and its output's map into the target's units.
      expect(row.__actual).toBe(split.yRaw[k]);
      const output = 0.25;
      const value = Number(row.__outOffset) + output * Number(row.__outScale);
      const expected = split.values(new Float64Array(split.data.rows).fill(output))[k] as number;
      expect(value).toBeCloseTo(expected, 9);
      expect(row.__naiveScale).toBe(split.naiveScale[split.entity[k] as number]);
      expect(info.featureColumns.map((c) => row[c])).toEqual(Array.from(x));
    };
    for (const k of [0, 1, train.data.rows - 1]) check(train, 'train', 0, k);
    for (const k of [0, holdout.data.rows - 1]) check(holdout, 'holdout', train.data.rows, k);
    const times = rows.map((r) => Number(r.__time));
    expect(times.slice(0, train.data.rows)).toEqual(
      [...times.slice(0, train.data.rows)].sort((a, b) => a - b),
    );
  });

  it('is written once: a retried export finds it and rewrites nothing', async () => {
    const key = `${framePrefix(datasetKey)}/frame.parquet`;
    const before = await deps.store.get(key);
    await deps.store.put(key, Uint8Array.from([1]));
    await env.run(exportDataset(deps), { model: spec.name, workflowId: 'wf-frame' });
    expect((await deps.store.get(key))?.body).toEqual(Uint8Array.from([1]));
    if (before) await deps.store.put(key, before.body);
  });

  it('is not written for a tfjs spec', async () => {
    const tfjs = flightSpec({ gate: PERMISSIVE_GATE });
    await deps.registry.saveSpec(tfjs);
    await loadFlightsIntoBuffer(deps.buffer, [tfjs.name], TEST_FLIGHTS);
    const exported = (await env.run(exportDataset(deps), {
      model: tfjs.name,
      workflowId: 'wf-tfjs',
    })) as ExportResult;
    if (exported.status !== 'ready') throw new Error(exported.reason);
    expect(await readFrameInfo(deps.store, exported.datasetKey)).toBeUndefined();
  });

  it('validates an ONNX candidate on the frame holdout: its scores are those of its outputs on those rows', async () => {
    const width = info.featureColumns.length;
    const weights = Array.from({ length: width }, (_, i) => ((i % 5) - 2) / 10);
    const candidateKey = 'checkpoints/frame/wf-frame/final';
    await deps.store.put(`${candidateKey}/model.onnx`, linearOnnx(weights, 0.1));
    await saveCandidatePreprocessing(deps.store, candidateKey, info.preprocessing);
    const validation = (await env.run(createValidateModel(deps), {
      model: spec.name,
      datasetKey,
      candidateKey,
      gate: spec.gate,
    })) as ValidateResult;

    const manifest = await loadManifest(deps.store, datasetKey);
    const { holdout } = (await openDataset(deps.store, manifest)).splits(info.preprocessing);
    const held = rows.filter((r) => r.__split === 'holdout');
    const outputs = Float32Array.from(held, (r) =>
      info.featureColumns.reduce((sum, c, i) => sum + Number(r[c]) * (weights[i] as number), 0.1),
    );
    const expected = forecastMetrics(holdout.yRaw, holdout.values(outputs), {
      entity: holdout.entity,
      naiveScale: holdout.naiveScale,
    });
    expect(validation.passed).toBe(true);
    expect(validation.candidate.mae).toBeCloseTo(expected.mae as number, 4);
    expect(validation.candidate.mase).toBeCloseTo(expected.mase as number, 4);
  });
});
