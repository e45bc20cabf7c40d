import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { openDataset, loadManifest, readWindowRows, type LoadedSplit } from '../../datasets/dataset-io';
import { createExportDataset } from '../../activities/export-dataset';
import type { DatasetManifest } from '../../common/artefacts';
import { HyperparamsSchema, ModelSpecSchema, type ModelSpec } from '../../common/model-spec';
import { selectBackend } from '../../ml/backend';
import { createModel, disposeModel, lossFunction } from '../../ml/model';
import { fitModel, type TrainingData } from '../../ml/train';
import { forEachChunk, sqlIdent, sqlString, withDuckDb } from '../../storage/duckdb';
import { bufferSource } from '../helpers/buffer-fixture';
import { localDeps } from '../helpers/pipeline';

/**
 * 4 hosts x 2,600 hourly rows (10,400 rows: five DuckDB chunks and more), with holes in time and
 * a few missing feature values, so windows break where the old lag() features broke.
 */
const HOSTS = 4;
const HOURS = 2600;
const LOOKBACK = 24;

let dir: string;
let deps: ActivityDeps;
let spec: ModelSpec;
let manifest: DatasetManifest;

beforeAll(async () => {
  await selectBackend('cpu');
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-windows-test-'));
  deps = localDeps(dir);
  spec = ModelSpecSchema.parse({
    name: 'windows',
    task: 'forecast',
    timeColumn: 'ts',
    entityColumn: 'host',
    features: ['cpu', 'mem'],
    target: 'cpu',
    lookback: LOOKBACK,
    horizon: 2,
    windowDays: 100,
    minRecords: 1,
  });
  await deps.registry.saveSpec(spec);
  await withDuckDb((conn) =>
    deps.buffer.appendQuery(
      conn,
      spec.name,
      `SELECT TIMESTAMP '2024-01-01' + INTERVAL (h) HOUR AS ts, 'host-' || e AS host,
              CASE WHEN (h * 7 + e) % 997 = 0 THEN NULL ELSE sin(h / 5.0 + e) * 10 + e * 20 END::DOUBLE AS cpu,
              ((h * 31 + e * 17) % 101)::DOUBLE AS mem
       FROM range(${HOSTS}) r(e), range(${HOURS}) t(h)
       WHERE (h + e * 13) % 89 <> 0`,
      { timeColumn: 'ts', entityColumn: 'host' },
    ),
  );
  const exported = await createExportDataset(deps)({ model: spec.name, workflowId: 'wf-windows' });
  if (exported.status !== 'ready') throw new Error(`not exported: ${exported.reason}`);
  manifest = await loadManifest(deps.store, exported.datasetKey);
});

afterAll(async () => {
  if (dir) await fs.rm(dir, { recursive: true, force: true });
});

/**
 * The samples as the previous export materialised them: lag() per feature, lead() target and a
 * time join for the day before, in SQL, normalised with the dataset's statistics. The oracle the
 * loader's windows must equal.
 */
async function laggedSamples(): Promise<
  Record<'train' | 'holdout', { x: number[][]; y: number[]; dayBefore: number[] }>
> {
  const pre = manifest.preprocessing;
  const lags: string[] = [];
  for (let lag = LOOKBACK - 1; lag >= 0; lag--)
    for (const f of spec.features) lags.push(lag === 0 ? sqlIdent(f) : `lag(${sqlIdent(f)}, ${lag}) OVER w`);
  const from = `TIMESTAMP ${sqlString(manifest.window.from)}`;
  const source = await bufferSource(deps.buffer, spec.name);
  return withDuckDb(async (conn) => {
    await conn.run(
      `CREATE TEMP TABLE s AS
       WITH src AS (SELECT * FROM ${source}),
       j AS (SELECT s.*, d.cpu AS day_before FROM src s LEFT JOIN src d ON d.host = s.host AND d.ts = s.ts - INTERVAL 24 HOUR
             WHERE s.ts >= ${from}),
       l AS (SELECT ts, host, [${lags.join(', ')}] AS x, lead(cpu, ${spec.horizon}) OVER w AS y,
                    lead(ts, ${spec.horizon}) OVER w AS target_time, lead(day_before, ${spec.horizon}) OVER w AS day_before
             FROM j WINDOW w AS (PARTITION BY host ORDER BY ts))
       SELECT * FROM l WHERE y IS NOT NULL AND list_count(x) = ${LOOKBACK * spec.features.length} ORDER BY ts, host`,
    );
    const cut = `(SELECT quantile_disc(ts, 0.8) FROM s)`;
    const part = async (where: string) => {
      const rows = (
        await conn.runAndReadAll(`SELECT x, y, day_before FROM s WHERE ${where}`)
      ).getRowObjectsJson();
      return {
        x: rows.map((r) =>
          (r.x as number[]).map((v, c) => (v - (pre.mean[c % 2] as number)) / (pre.std[c % 2] as number)),
        ),
        y: rows.map((r) => Number(r.y)),
        dayBefore: rows.map((r) => (r.day_before === null ? NaN : Number(r.day_before))),
      };
    };
    return { train: await part(`target_time < ${cut}`), holdout: await part(`ts >= ${cut}`) };
  });
}

function inputsOf(split: LoadedSplit, order?: Uint32Array): Float32Array {
  const x = new Float32Array(split.data.rows * split.data.width);
  split.data.gatherX(order, 0, split.data.rows, x);
  return x;
}

describe('dataset windows', () => {
  it('streams a query in DuckDB chunks of at most 2048 rows, never the whole result at once', async () => {
    const sizes: number[] = [];
    const total = await withDuckDb((conn) =>
      forEachChunk(conn, `SELECT range::DOUBLE FROM range(10400)`, (chunk) => sizes.push(chunk.rows)),
    );
    expect(total).toBe(10400);
    expect(sizes.length).toBeGreaterThanOrEqual(6);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2048);
  });

  it('builds from the stored rows exactly the samples lag() and lead() built, across chunk boundaries', async () => {
    const oracle = await laggedSamples();
    const { train, holdout } = (await openDataset(deps.store, manifest)).splits();
    for (const [split, expected] of [
      [train, oracle.train],
      [holdout, oracle.holdout],
    ] as const) {
      expect(split.data.rows).toBe(expected.y.length);
      expect(Array.from(inputsOf(split))).toEqual(Array.from(Float32Array.from(expected.x.flat())));
      expect(Array.from(split.yRaw)).toEqual(expected.y);
      expect(Array.from(split.dayBefore)).toEqual(expected.dayBefore);
    }
    expect(train.data.rows).toBeGreaterThan(2 * 2048);
    // Some windows were broken by the holes and the missing values, and some day-befores missing.
    expect(train.data.rows + holdout.data.rows).toBeLessThan(HOSTS * HOURS * 0.9);
    expect(holdout.dayBefore.some(Number.isNaN)).toBe(true);
  });

  it('tells entities apart by hash exactly as by name', async () => {
    const blob = await deps.store.get(manifest.files.rows.key);
    const file = path.join(dir, 'rows.parquet');
    await fs.writeFile(file, blob!.body);
    const relation = `read_parquet(${sqlString(file)})`;
    const [byHash, byName] = await withDuckDb(async (conn) => [
      await readWindowRows(conn, relation, spec),
      await readWindowRows(conn, relation, spec, { byName: true }),
    ]);
    expect(byHash.count).toBeGreaterThan(4 * 2048);
    expect(Array.from(byHash.entity)).toEqual(Array.from(byName.entity));
    expect(byHash.time).toEqual(byName.time);
    expect(byHash.values).toEqual(byName.values);
    expect(new Set(byHash.entity).size).toBe(HOSTS);
  });

  it('holds one value per stored cell, not one per lag: far less than the materialised windows', async () => {
    const { train } = (await openDataset(deps.store, manifest)).splits();
    const materialised = train.data.rows * train.data.width * 4;
    expect(train.data.bytes * 8).toBeLessThan(materialised);
  });

  it('trains exactly as the same samples held as one dense array: same batches, same weights', async () => {
    const { train, holdout } = (await openDataset(deps.store, manifest)).splits();
    const dense = (split: LoadedSplit): TrainingData => ({
      x: inputsOf(split),
      y: split.data.y,
      rows: split.data.rows,
      width: split.data.width,
    });
    const hp = HyperparamsSchema.parse({ hiddenUnits: 8, batchSize: 64, seed: 3, dropout: 0.1 });
    const shape = { task: 'forecast', lookback: LOOKBACK, features: 2 } as const;
    const weights: number[][] = [];
    const losses: (number | null)[] = [];
    for (const data of [
      { train: train.data, holdout: holdout.data },
      { train: dense(train), holdout: dense(holdout) },
    ]) {
      const model = createModel(shape, hp);
      const fit = await fitModel(model, data.train, data.holdout, {
        epochs: 2,
        batchSize: hp.batchSize,
        seed: hp.seed,
        loss: lossFunction('forecast', hp.loss),
      });
      losses.push(fit.last?.valLoss ?? null);
      weights.push(model.getWeights().flatMap((w) => Array.from(w.dataSync())));
      disposeModel(model);
    }
    expect(weights[1]).toEqual(weights[0]);
    expect(losses[1]).toBe(losses[0]);
  });
});
