import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { DatasetManifestSchema, type DatasetManifest, type Preprocessing } from '../common/artefacts';
import { ErrorType } from '../common/errors';
import { buildSplits, indexSamples, type LoadedSplit, type SampleRule, type WindowRows } from '../ml/windows';
import type { BlobStore } from '../storage/blob-store';
import { forEachChunk, sqlIdent, sqlString, withDuckDb, type DuckDBConnection } from '../storage/duckdb';
import { CorruptBlobError } from '../storage/errors';
import { getJson } from '../storage/open-store';

export type { LoadedSplit } from '../ml/windows';

/** The data shape a dataset is stored and read under (a spec, or a dataset's preprocessing). */
type Shape = Pick<
  Preprocessing,
  'task' | 'threshold' | 'timeColumn' | 'entityColumn' | 'features' | 'target' | 'lookback' | 'horizon'
>;

/** The stored value columns: every feature (in model order), then the target when it is not a feature. */
export function valueColumns(shape: Pick<Shape, 'features' | 'target'>): string[] {
  return shape.features.includes(shape.target) ? [...shape.features] : [...shape.features, shape.target];
}

/** Columns of a dataset's `rows.parquet`, in order (the manifest's `columns`): the buffer's own names. */
export function datasetColumns(
  shape: Pick<Shape, 'entityColumn' | 'timeColumn' | 'features' | 'target'>,
): string[] {
  return [shape.entityColumn, shape.timeColumn, ...valueColumns(shape)];
}

/** Which rows become samples: the shape's lookback and horizon, inside the window from `windowFrom`. */
export function sampleRule(shape: Shape, windowFrom: string): SampleRule {
  const values = valueColumns(shape);
  return {
    task: shape.task,
    threshold: shape.threshold,
    lookback: shape.lookback,
    horizon: shape.horizon,
    features: shape.features.length,
    target: values.indexOf(shape.target),
    windowFrom: Date.parse(windowFrom) * 1000,
  };
}

/** Where a dataset's manifest lives; its presence means the dataset is complete. */
export function manifestKey(datasetKey: string): string {
  return `${datasetKey}/manifest.json`;
}

export async function loadManifest(store: BlobStore, datasetKey: string): Promise<DatasetManifest> {
  let found;
  try {
    found = await getJson(store, manifestKey(datasetKey), DatasetManifestSchema);
  } catch (err) {
    if (!(err instanceof CorruptBlobError)) throw err;
    throw ApplicationFailure.nonRetryable(
      `${err.message}\n(datasets written before the one-file row format, with train.parquet and holdout.parquet, are not read any more: export again)`,
      ErrorType.CorruptArtefact,
    );
  }
  if (!found)
    throw ApplicationFailure.nonRetryable(
      `No dataset manifest at ${store.uriFor(datasetKey)}`,
      ErrorType.CorruptArtefact,
    );
  return found.value;
}

/**
 * Reads a dataset's rows (`columns`: entity, time, then the value columns) from a Parquet file in
 * DuckDB chunks into typed arrays: one number per stored cell, never a JS array of the result.
 * Entities become dense ids in SQL (a join on the distinct names, far cheaper than reading every
 * name into JS), and each chunk lands at its file row numbers, whatever order the join emits.
 */
export async function readWindowRows(
  conn: DuckDBConnection,
  file: string,
  shape: Pick<Shape, 'entityColumn' | 'timeColumn' | 'features' | 'target'>,
): Promise<WindowRows> {
  const source = `read_parquet(${sqlString(file)})`;
  const counted = await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM ${source}`);
  const count = Number(counted.getRowObjectsJson()[0]?.n ?? 0);
  const values = valueColumns(shape);
  const rows: WindowRows = {
    count,
    entity: new Int32Array(count),
    time: new Float64Array(count),
    values: values.map(() => new Float64Array(count)),
  };
  const e = sqlIdent(shape.entityColumn);
  const select = [
    'f.file_row_number::DOUBLE',
    'ids.id::DOUBLE',
    `epoch_us(f.${sqlIdent(shape.timeColumn)})::DOUBLE`,
    ...values.map((c) => `coalesce(f.${sqlIdent(c)}::DOUBLE, 'NaN'::DOUBLE)`),
  ];
  const seen = await forEachChunk(
    conn,
    `WITH ids AS (SELECT ${e}, row_number() OVER () - 1 AS id FROM (SELECT DISTINCT ${e} FROM ${source}))
     SELECT ${select.join(', ')}
     FROM read_parquet(${sqlString(file)}, file_row_number = true) f JOIN ids ON f.${e} IS NOT DISTINCT FROM ids.${e}`,
    (chunk) => {
      const at = chunk.doubles(0);
      const id = chunk.doubles(1);
      const time = chunk.doubles(2);
      for (let r = 0; r < chunk.rows; r++) {
        const i = at[r] as number;
        rows.entity[i] = id[r] as number;
        rows.time[i] = time[r] as number;
      }
      values.forEach((_, c) => {
        const column = rows.values[c] as Float64Array;
        const v = chunk.doubles(c + 3);
        for (let r = 0; r < chunk.rows; r++) column[at[r] as number] = v[r] as number;
      });
    },
  );
  if (seen !== count) throw new Error(`${file}: read ${seen} of its ${count} rows`);
  return rows;
}

/**
 * Reads a dataset from the store, checks its sha256 against the manifest and builds both splits:
 * lag windows and lead targets come from the stored rows here, by the rule the export counted with
 * (a different count means the file is not the one the manifest describes).
 */
export async function loadDataset(
  store: BlobStore,
  manifest: DatasetManifest,
): Promise<{ train: LoadedSplit; holdout: LoadedSplit }> {
  const entry = manifest.files.rows;
  const blob = await store.get(entry.key);
  const digest = blob && createHash('sha256').update(blob.body).digest('hex');
  const corrupt = (why: string) =>
    ApplicationFailure.nonRetryable(
      `Dataset file ${store.uriFor(entry.key)} ${why}`,
      ErrorType.CorruptArtefact,
    );
  if (!blob || digest !== entry.sha256) throw corrupt('is missing or does not match its sha256');
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-dataset-'));
  try {
    const file = path.join(tmp, 'rows.parquet');
    await fs.writeFile(file, blob.body);
    const pre = manifest.preprocessing;
    const rows = await withDuckDb((conn) => readWindowRows(conn, file, pre));
    const rule = sampleRule(pre, manifest.window.from);
    const index = indexSamples(rows, rule);
    if (index.train.length !== manifest.rows.train || index.holdout.length !== manifest.rows.holdout)
      throw corrupt(
        `gives ${index.train.length} train / ${index.holdout.length} holdout samples, the manifest says ${manifest.rows.train} / ${manifest.rows.holdout}`,
      );
    return buildSplits(rows, index, rule, pre);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
