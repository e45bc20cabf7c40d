import { createHash, randomUUID } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { DEFAULT_TRAIN_SHARE } from '../common/admission';
import { DatasetManifestSchema, preprocessingOf, type DatasetManifest } from '../common/artefacts';
import { ErrorType } from '../common/errors';
import { isMultiClass, type ModelSpec } from '../common/model-spec';
import type { ExportInput, ExportResult } from '../common/stages';
import { sqlIdent, sqlString, withDuckDb, type DuckDBConnection } from '../storage/duckdb';
import { PreconditionFailedError } from '../storage/errors';
import { getJson, putJson } from '../storage/open-store';
import { checkReadiness } from '../storage/readiness';
import { fitStatistics, indexSamples } from '../ml/windows';
import {
  datasetColumns,
  manifestKey,
  readWindowRows,
  sampleRule,
  valueColumns,
} from '../datasets/dataset-io';
import type { ActivityDeps } from './deps';
import { loadSpecOrFail } from './load-spec';

export function datasetKey(model: string, workflowId: string): string {
  return `datasets/${model}/${workflowId}`;
}

/**
 * Window rows -> one sorted Parquet file + manifest (sample counts, time cut, train statistics) in
 * the store; the loader builds lag windows and targets from the rows. The first `trainShare` of the
 * samples (the input's, else the spec's, else 0.8) train, the rest is the holdout.
 * Idempotent per workflow: a retry returns the dataset the first attempt wrote. Each attempt writes
 * its rows under a key of its own and the manifest (naming that key and its sha256) create-only, so
 * of attempts that overlap (a stale one beside its retry) one manifest wins and always describes the
 * file it names; the others return that one.
 */
export function createExportDataset(deps: ActivityDeps) {
  return async function exportDataset(input: ExportInput): Promise<ExportResult> {
    const spec = await loadSpecOrFail(deps.registry, input.model);
    const prefix = datasetKey(input.model, input.workflowId);
    const done = await getJson(deps.store, manifestKey(prefix), DatasetManifestSchema);
    if (done) return ready(done.value);
    const windowDays = input.windowDays ?? spec.windowDays;
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-export-'));
    try {
      const source = await deps.buffer.parquetSource(input.model);
      return await withDuckDb(async (conn) => {
        const readiness = await checkReadiness(conn, {
          model: input.model,
          source,
          timeColumn: spec.timeColumn,
          windowDays,
          minRecords: input.minRecords ?? spec.minRecords,
          minDays: spec.minDays,
        });
        if (!readiness.ready || !readiness.from || !readiness.to || !source) {
          return { status: 'insufficient', reason: readiness.reason };
        }
        const window = { from: readiness.from, to: readiness.to, days: windowDays };
        return ready(await writeDataset(conn, deps, spec, input, tmp, source, window));
      });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  };
}

/**
 * Writes the window that readiness counted (its oldest to newest record, so rows ingested meanwhile
 * do not slip in) once, sorted by (time, entity), with the 24 hours before it that the day-before
 * baseline looks up, as `rows-<attempt>.parquet`; then reads the file back in chunks to count the samples,
 * find the time cut and compute the train statistics by the loader's own rule (ml/windows.ts),
 * while it uploads. (A sorted temp table copied and read instead costs the same CPU and holds the
 * window in DuckDB's memory.) The buffer holds one row per (time, entity) (DataBuffer skips keys it has).
 */
async function writeDataset(
  conn: DuckDBConnection,
  deps: ActivityDeps,
  spec: ModelSpec,
  input: ExportInput,
  tmp: string,
  source: string,
  window: DatasetManifest['window'],
): Promise<DatasetManifest> {
  const from = `TIMESTAMP ${sqlString(window.from)}`;
  // `to` has whole seconds: the newest record may lie up to a second after it.
  const until = `TIMESTAMP ${sqlString(window.to)} + INTERVAL 1 SECOND`;
  const t = sqlIdent(spec.timeColumn);
  const e = spec.entityColumn === undefined ? undefined : sqlIdent(spec.entityColumn);
  const multiClass = isMultiClass(spec);
  const values = valueColumns(spec).map(
    (c) => `${sqlIdent(c)}::${multiClass && c === spec.target ? 'VARCHAR' : 'DOUBLE'} AS ${sqlIdent(c)}`,
  );
  const file = path.join(tmp, 'rows.parquet');
  const trainShare = input.trainShare ?? spec.trainShare ?? DEFAULT_TRAIN_SHARE;
  // Tabular rows without an entity: every column orders them, so the file is the same on every export.
  const order = e === undefined ? 'ALL' : `${t}, ${e}`;
  await conn.run(
    `COPY (
       SELECT ${e === undefined ? '' : `${e}::VARCHAR AS ${e}, `}${t}::TIMESTAMP AS ${t}, ${values.join(', ')}
       FROM ${source}
       WHERE ${t}::TIMESTAMP >= ${from} - INTERVAL 24 HOUR AND ${t}::TIMESTAMP < ${until}
       ORDER BY ${order}
     ) TO ${sqlString(file)} (FORMAT parquet)`,
  );
  const classes = multiClass
    ? await classesOf(conn, `read_parquet(${sqlString(file)})`, spec.target as string, t, from)
    : undefined;
  const shape = { ...spec, ...(classes ? { classes } : {}) };
  const prefix = datasetKey(input.model, input.workflowId);
  const key = `${prefix}/rows-${randomUUID()}.parquet`;
  const upload = async () => {
    const body = await fs.readFile(file);
    await deps.store.put(key, body, { contentType: 'application/vnd.apache.parquet' });
    return { key, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.byteLength };
  };
  const count = async () => {
    const rows = await readWindowRows(conn, `read_parquet(${sqlString(file)})`, shape);
    const rule = sampleRule(shape, window.from, trainShare);
    const index = indexSamples(rows, rule);
    const level = { normalisation: 'global', targetTransform: 'level' } as const;
    return { index, stats: index.train.length > 0 ? fitStatistics(rows, index, rule, level) : undefined };
  };
  // Both settle before either error surfaces, so the connection is never closed under a running query.
  const [uploaded, counted] = await Promise.allSettled([upload(), count()]);
  if (counted.status === 'rejected') throw counted.reason;
  if (uploaded.status === 'rejected') throw uploaded.reason;
  const { index, stats } = counted.value;
  if (!stats || index.holdout.length === 0) {
    // No manifest means no dataset, but a rows file without one is left to nobody: remove it.
    await deps.store.delete(key);
    throw ApplicationFailure.nonRetryable(
      `The window of ${input.model} has too few time steps to split into train and holdout`,
      ErrorType.InvalidInput,
    );
  }
  const range = (ids: Uint32Array) => ({
    from: isoSeconds(index.time[ids[0] as number] as number),
    to: isoSeconds(index.time[ids[ids.length - 1] as number] as number),
  });
  const train = range(index.train);
  const holdout = range(index.holdout);
  const manifest: DatasetManifest = {
    model: input.model,
    workflowId: input.workflowId,
    createdAt: new Date().toISOString(),
    window,
    rows: { train: index.train.length, holdout: index.holdout.length },
    trainShare,
    columns: datasetColumns(spec),
    timeRange: { trainFrom: train.from, trainTo: train.to, holdoutFrom: holdout.from, holdoutTo: holdout.to },
    preprocessing: preprocessingOf(spec, stats, classes),
    files: { rows: uploaded.value },
  };
  // The manifest goes last: its presence means the dataset is complete.
  const published = await publishManifest(deps, prefix, manifest);
  await removeRowsBut(deps, prefix, published.files.rows.key);
  return published;
}

/**
 * Creates the manifest unless an overlapping attempt of the same export already did; returns the
 * one that is stored, so every attempt answers with the dataset the store holds.
 */
async function publishManifest(
  deps: ActivityDeps,
  prefix: string,
  manifest: DatasetManifest,
): Promise<DatasetManifest> {
  try {
    await putJson(deps.store, manifestKey(prefix), manifest, { ifNoneMatch: '*' });
    return manifest;
  } catch (err) {
    if (!(err instanceof PreconditionFailedError)) throw err;
    const stored = await getJson(deps.store, manifestKey(prefix), DatasetManifestSchema);
    if (!stored) throw new Error(`${deps.store.uriFor(manifestKey(prefix))} exists but cannot be read back`);
    return stored.value;
  }
}

/** Removes the rows files of attempts whose manifest lost (or never came): only `kept` is the dataset's. */
async function removeRowsBut(deps: ActivityDeps, prefix: string, kept: string): Promise<void> {
  const rows = (await deps.store.list(`${prefix}/rows`)).filter((key) => key.endsWith('.parquet'));
  for (const key of rows) if (key !== kept) await deps.store.delete(key);
}

/**
 * A multi-class target's classes: its distinct values inside the window, as text, sorted (as numbers
 * when every one is a number, so 2 comes before 10).
 */
async function classesOf(
  conn: DuckDBConnection,
  relation: string,
  target: string,
  t: string,
  from: string,
): Promise<string[]> {
  const found = await conn.runAndReadAll(
    `SELECT DISTINCT ${sqlIdent(target)}::VARCHAR AS c FROM ${relation}
     WHERE ${t} >= ${from} AND ${sqlIdent(target)} IS NOT NULL`,
  );
  const classes = found.getRowObjectsJson().map((r) => String(r.c));
  const numeric = classes.every((c) => c.trim() !== '' && Number.isFinite(Number(c)));
  return numeric ? classes.sort((a, b) => Number(a) - Number(b)) : classes.sort();
}

/** Epoch microseconds as the manifest writes times: whole seconds (floored), UTC. */
function isoSeconds(us: number): string {
  return new Date(Math.floor(us / 1e6) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function ready(manifest: DatasetManifest): ExportResult {
  return {
    status: 'ready',
    datasetKey: datasetKey(manifest.model, manifest.workflowId),
    trainRows: manifest.rows.train,
    holdoutRows: manifest.rows.holdout,
    features: manifest.preprocessing.features.length * manifest.preprocessing.lookback,
  };
}
