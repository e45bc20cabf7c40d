import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { DatasetManifestSchema, type DatasetManifest, type Preprocessing } from '../common/artefacts';
import { ErrorType } from '../common/errors';
import type { TrainingData } from '../ml/train';
import type { BlobStore } from '../storage/blob-store';
import { sqlString, withDuckDb } from '../storage/duckdb';
import { getJson } from '../storage/open-store';

export interface LoadedSplit {
  /** Normalised model input and (for forecasts) normalised target. */
  data: TrainingData;
  /** Target in its own units (0/1 for classifiers). */
  yRaw: Float64Array;
  /** Un-normalised lag-0 value of each feature, row-major: naive baselines need it. */
  lastValues: Float64Array[];
}

export async function loadManifest(store: BlobStore, datasetKey: string): Promise<DatasetManifest> {
  const found = await getJson(store, `${datasetKey}/manifest.json`, DatasetManifestSchema);
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
    const columns = await withDuckDb(async (conn) => {
      const reader = await conn.runAndReadAll(
        `SELECT * EXCLUDE (entity, time) FROM read_parquet(${sqlString(file)})`,
      );
      return reader.getColumns() as unknown as number[][];
    });
    return normalise(columns, manifest.preprocessing);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** `columns`: the lag features in manifest order, then `y`. */
export function normalise(columns: number[][], pre: Preprocessing): LoadedSplit {
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
