import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { DatasetManifestSchema, type DatasetManifest, type Preprocessing } from '../common/artefacts';
import { ErrorType } from '../common/errors';
import type { ModelSpec } from '../common/model-spec';
import type { TrainingData } from '../ml/train';
import type { BlobStore } from '../storage/blob-store';
import { sqlIdent, sqlString, withDuckDb } from '../storage/duckdb';
import { getJson } from '../storage/open-store';

/**
 * The raw target of the same entity exactly 24 hours before the target time, NULL when the buffer
 * has no row then: the "same hour one day earlier" baseline. Never a model input.
 */
export const DAY_BEFORE_COLUMN = 'y_day_before';

/** Lag feature columns in model input order: for each lag (oldest first), every feature. */
export function featureColumns(spec: Pick<ModelSpec, 'features' | 'lookback'>): string[] {
  const columns: string[] = [];
  for (let lag = spec.lookback - 1; lag >= 0; lag--)
    for (const f of spec.features) columns.push(`${f}_lag${lag}`);
  return columns;
}

/** Columns of both dataset Parquet files, in order (the manifest's `columns`). */
export function datasetColumns(spec: Pick<ModelSpec, 'features' | 'lookback'>): string[] {
  return ['entity', 'time', ...featureColumns(spec), 'y', DAY_BEFORE_COLUMN];
}

export interface LoadedSplit {
  /** Normalised model input and (for forecasts) normalised target. */
  data: TrainingData;
  /** Target in its own units (0/1 for classifiers). */
  yRaw: Float64Array;
  /** Un-normalised lag-0 value of each feature, row-major: naive baselines need it. */
  lastValues: Float64Array[];
  /** Raw target (not thresholded) 24 hours before each row's target time; NaN where the buffer has none. */
  dayBefore: Float64Array;
}

/** Where a dataset's manifest lives; its presence means the dataset is complete. */
export function manifestKey(datasetKey: string): string {
  return `${datasetKey}/manifest.json`;
}

export async function loadManifest(store: BlobStore, datasetKey: string): Promise<DatasetManifest> {
  const found = await getJson(store, manifestKey(datasetKey), DatasetManifestSchema);
  if (!found)
    throw ApplicationFailure.nonRetryable(
      `No dataset manifest at ${store.uriFor(datasetKey)}`,
      ErrorType.CorruptArtefact,
    );
  return found.value;
}

/** Reads one split from the store, checks its sha256 against the manifest and normalises it. */
export async function loadSplit(
  store: BlobStore,
  manifest: DatasetManifest,
  part: 'train' | 'holdout',
): Promise<LoadedSplit> {
  const entry = manifest.files[part];
  const blob = await store.get(entry.key);
  const digest = blob && createHash('sha256').update(blob.body).digest('hex');
  if (!blob || digest !== entry.sha256) {
    throw ApplicationFailure.nonRetryable(
      `Dataset file ${store.uriFor(entry.key)} is missing or does not match its sha256`,
      ErrorType.CorruptArtefact,
    );
  }
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-split-'));
  try {
    const file = path.join(tmp, `${part}.parquet`);
    await fs.writeFile(file, blob.body);
    // Datasets exported before the day-before column existed read it as all missing.
    const dayBefore = manifest.columns.includes(DAY_BEFORE_COLUMN)
      ? sqlIdent(DAY_BEFORE_COLUMN)
      : 'NULL::DOUBLE';
    const select = [...featureColumns(manifest.preprocessing), 'y'].map(sqlIdent).join(', ');
    const columns = await withDuckDb(async (conn) => {
      const reader = await conn.runAndReadAll(
        `SELECT ${select}, ${dayBefore} FROM read_parquet(${sqlString(file)})`,
      );
      return reader.getColumns() as unknown as (number | null)[][];
    });
    const last = columns.pop() ?? [];
    return {
      ...normalise(columns as number[][], manifest.preprocessing),
      dayBefore: Float64Array.from(last, (v) => v ?? NaN),
    };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** `columns`: the lag features in manifest order, then `y`. */
export function normalise(columns: number[][], pre: Preprocessing): Omit<LoadedSplit, 'dayBefore'> {
  const width = columns.length - 1;
  const yColumn = columns[width] ?? [];
  const rows = yColumn.length;
  const x = new Float32Array(rows * width);
  const y = new Float32Array(rows);
  const yRaw = new Float64Array(rows);
  const nf = pre.features.length;
  for (let c = 0; c < width; c++) {
    const column = columns[c] as number[];
    const f = c % nf;
    const mean = pre.mean[f] as number;
    const std = pre.std[f] as number;
    for (let r = 0; r < rows; r++) x[r * width + c] = ((column[r] as number) - mean) / std;
  }
  for (let r = 0; r < rows; r++) {
    yRaw[r] = yColumn[r] as number;
    y[r] = ((yColumn[r] as number) - pre.targetMean) / pre.targetStd;
  }
  const lastValues = pre.features.map((_, f) => Float64Array.from(columns[width - nf + f] as number[]));
  return { data: { x, y, rows, width }, yRaw, lastValues };
}
