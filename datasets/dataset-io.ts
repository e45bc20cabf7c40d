import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/activity';
import { DatasetManifestSchema, type DatasetManifest, type Preprocessing } from '../common/artefacts';
import { ErrorType } from '../common/errors';
import { SINGLE_ENTITY } from '../common/model-inputs';
import { frequencyUs } from '../common/model-spec';
import {
  buildSplits,
  indexSamples,
  type LoadedSplit,
  type SampleIndex,
  type SampleRule,
  type WindowRows,
} from '../ml/windows';
import type { BlobStore } from '../storage/blob-store';
import { forEachChunk, sqlIdent, sqlString, withDuckDb, type DuckDBConnection } from '../storage/duckdb';
import { CorruptBlobError } from '../storage/errors';
import { getJson } from '../storage/open-store';

export type { LoadedSplit } from '../ml/windows';

/** The data shape a dataset is stored and read under (a spec, or a dataset's preprocessing). */
type Shape = Pick<
  Preprocessing,
  | 'task'
  | 'threshold'
  | 'timeColumn'
  | 'entityColumn'
  | 'features'
  | 'target'
  | 'classes'
  | 'lookback'
  | 'horizon'
  | 'frequency'
>;

/**
 * The stored value columns: every feature (in model order), then the target when it is not a
 * feature (a clusterer has none).
 */
export function valueColumns(shape: Pick<Shape, 'features' | 'target'>): string[] {
  const { target } = shape;
  return target === undefined || shape.features.includes(target)
    ? [...shape.features]
    : [...shape.features, target];
}

/**
 * Columns of a dataset's `rows.parquet`, in order (the manifest's `columns`): the buffer's own
 * names, the entity column only when the spec has one.
 */
export function datasetColumns(
  shape: Pick<Shape, 'entityColumn' | 'timeColumn' | 'features' | 'target'>,
): string[] {
  const entity = shape.entityColumn === undefined ? [] : [shape.entityColumn];
  return [...entity, shape.timeColumn, ...valueColumns(shape)];
}

/** SQL of a row's entity: its column, or {@link SINGLE_ENTITY} for a spec without one. */
export function entitySql(shape: Pick<Shape, 'entityColumn'>): string {
  return shape.entityColumn === undefined ? sqlString(SINGLE_ENTITY) : sqlIdent(shape.entityColumn);
}

/**
 * SQL of a value column as a number: a multi-class target as its index in `classes` (NaN for a
 * value outside them), anything else as a DOUBLE; NaN where missing.
 */
function valueSql(column: string, shape: Pick<Shape, 'target' | 'classes'>): string {
  const c = sqlIdent(column);
  if (column !== shape.target || shape.classes === undefined) return `coalesce(${c}::DOUBLE, 'NaN'::DOUBLE)`;
  const list = `[${shape.classes.map(sqlString).join(', ')}]::VARCHAR[]`;
  return `coalesce((nullif(list_position(${list}, ${c}::VARCHAR), 0) - 1)::DOUBLE, 'NaN'::DOUBLE)`;
}

/**
 * Which rows become samples: the shape's lookback and horizon, inside the window from `windowFrom`,
 * the first `trainShare` of them (by time) trained on.
 */
export function sampleRule(shape: Shape, windowFrom: string, trainShare?: number): SampleRule {
  const values = valueColumns(shape);
  return {
    task: shape.task,
    threshold: shape.threshold,
    lookback: shape.lookback,
    horizon: shape.horizon,
    features: shape.features.length,
    target: shape.target === undefined ? -1 : values.indexOf(shape.target),
    windowFrom: Date.parse(windowFrom) * 1000,
    frequencyUs: shape.frequency === undefined ? undefined : frequencyUs(shape.frequency),
    trainShare,
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
 * Reads a dataset's rows (entity, time, then the value columns) from `relation` (a table, or
 * `read_parquet(...)` of a dataset file) in DuckDB chunks into typed arrays, in the relation's
 * order: one number per stored cell, never a JS array of the result. Entities are told apart by
 * a 53-bit hash computed in SQL, far cheaper than reading every name into JS; only when two names
 * share a hash (checked first, and astronomically rare) are the names themselves read.
 */
export async function readWindowRows(
  conn: DuckDBConnection,
  relation: string,
  shape: Pick<Shape, 'entityColumn' | 'timeColumn' | 'features' | 'target' | 'classes'>,
  options: { byName?: boolean } = {},
): Promise<WindowRows> {
  const e = entitySql(shape);
  const key = `(hash(${e}) >> 11)::DOUBLE`;
  const checked = await conn.runAndReadAll(
    `SELECT count(*)::BIGINT AS n, count(DISTINCT ${e}) = count(DISTINCT ${key}) AS distinct FROM ${relation}`,
  );
  const { n, distinct } = (checked.getRowObjectsJson()[0] ?? {}) as { n?: string; distinct?: boolean };
  const count = Number(n ?? 0);
  const byName = options.byName === true || distinct !== true;
  const values = valueColumns(shape);
  const rows: WindowRows = {
    count,
    entity: new Int32Array(count),
    names: [],
    time: new Float64Array(count),
    values: values.map(() => new Float64Array(count)),
  };
  const select = [
    byName ? `${e}::VARCHAR` : key,
    `epoch_us(${sqlIdent(shape.timeColumn)})::DOUBLE`,
    ...values.map((c) => valueSql(c, shape)),
  ];
  const ids = new Map<string | number | null, number>();
  const idOf = (name: string | number | null) => {
    let id = ids.get(name);
    if (id === undefined) ids.set(name, (id = ids.size));
    return id;
  };
  const seen = await forEachChunk(conn, `SELECT ${select.join(', ')} FROM ${relation}`, (chunk, offset) => {
    if (byName) for (let r = 0; r < chunk.rows; r++) rows.entity[offset + r] = idOf(chunk.text(0, r));
    else {
      const hashes = chunk.doubles(0);
      for (let r = 0; r < chunk.rows; r++) rows.entity[offset + r] = idOf(hashes[r] as number);
    }
    rows.time.set(chunk.doubles(1), offset);
    values.forEach((_, c) => (rows.values[c] as Float64Array).set(chunk.doubles(c + 2), offset));
  });
  if (seen !== count) throw new Error(`${relation}: read ${seen} of its ${count} rows`);
  rows.names = new Array<string>(ids.size);
  if (byName) for (const [name, id] of ids) rows.names[id] = String(name);
  else {
    // One row per entity: its name beside the hash the rows were told apart by.
    const named = await conn.runAndReadAll(
      `SELECT DISTINCT ${key} AS k, ${e}::VARCHAR AS name FROM ${relation}`,
    );
    for (const { k, name } of named.getRowObjectsJson() as { k: number; name: string }[]) {
      const id = ids.get(Number(k));
      if (id !== undefined) rows.names[id] = name;
    }
  }
  return rows;
}

/** A dataset read back: its rows and samples, split under any preprocessing of its shape. */
export interface OpenDataset {
  rows: WindowRows;
  index: SampleIndex;
  rule: SampleRule;
  /** Train and holdout under `pre`: a training's own, or the manifest's fleet statistics by default. */
  splits(pre?: Preprocessing): { train: LoadedSplit; holdout: LoadedSplit };
}

/**
 * Reads a dataset from the store, checks its sha256 against the manifest and indexes its samples
 * by the rule the export counted with (a different count means the file is not the one the
 * manifest describes); lag windows and lead targets are built from the stored rows by `splits`.
 */
export async function openDataset(store: BlobStore, manifest: DatasetManifest): Promise<OpenDataset> {
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
    const rows = await withDuckDb((conn) => readWindowRows(conn, `read_parquet(${sqlString(file)})`, pre));
    const rule = sampleRule(pre, manifest.window.from, manifest.trainShare);
    const index = indexSamples(rows, rule);
    if (index.train.length !== manifest.rows.train || index.holdout.length !== manifest.rows.holdout)
      throw corrupt(
        `gives ${index.train.length} train / ${index.holdout.length} holdout samples, the manifest says ${manifest.rows.train} / ${manifest.rows.holdout}`,
      );
    return { rows, index, rule, splits: (under = pre) => buildSplits(rows, index, rule, under) };
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
