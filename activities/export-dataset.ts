import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import type { DuckDBConnection } from '@duckdb/node-api';
import { DatasetManifestSchema, type DatasetManifest, type Preprocessing } from '../common/artefacts';
import { ErrorType } from '../common/errors';
import type { ModelSpec } from '../common/model-spec';
import type { ExportInput, ExportResult } from '../common/stages';
import { sqlIdent, sqlString, withDuckDb } from '../storage/duckdb';
import { getJson, putJson } from '../storage/open-store';
import type { ActivityDeps } from './deps';
import { loadSpecOrFail } from './load-spec';

/** Share of the window, by time, that trains; the rest is the holdout. */
const TRAIN_SHARE = 0.8;

export function datasetKey(model: string, workflowId: string): string {
  return `datasets/${model}/${workflowId}`;
}

/** Lag feature columns in model input order: for each lag (oldest first), every feature. */
export function featureColumns(spec: Pick<ModelSpec, 'features' | 'lookback'>): string[] {
  const columns: string[] = [];
  for (let lag = spec.lookback - 1; lag >= 0; lag--)
    for (const f of spec.features) columns.push(`${f}_lag${lag}`);
  return columns;
}

/**
 * Window -> lag features -> time-ordered train/holdout split -> Parquet + manifest in the store.
 * Idempotent per workflow: a retry returns the dataset the first attempt wrote.
 */
export function createExportDataset(deps: ActivityDeps) {
  return async function exportDataset(input: ExportInput): Promise<ExportResult> {
    const spec = await loadSpecOrFail(deps.registry, input.model);
    const prefix = datasetKey(input.model, input.workflowId);
    const done = await getJson(deps.store, `${prefix}/manifest.json`, DatasetManifestSchema);
    if (done) return ready(done.value);
    if (!(await deps.buffer.hasData(input.model))) {
      return { status: 'insufficient', reason: `Insufficient data: the buffer of ${input.model} is empty` };
    }
    const windowDays = input.windowDays ?? spec.windowDays;
    const minRecords = input.minRecords ?? spec.minRecords;
    const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-export-'));
    try {
      return await withDuckDb(async (conn) => {
        await conn.run(`SET TimeZone = 'UTC'`);
        const t = sqlIdent(spec.timeColumn);
        const source = `read_parquet(${sqlString(deps.buffer.glob(input.model))}, hive_partitioning = false)`;
        const bounds = await conn.runAndReadAll(
          `WITH w AS (SELECT * FROM ${source} WHERE ${t} > (SELECT max(${t}) FROM ${source}) - INTERVAL ${windowDays} DAY)
           SELECT count(*)::BIGINT AS n, strftime(min(${t}), '%Y-%m-%dT%H:%M:%SZ') AS lo, strftime(max(${t}), '%Y-%m-%dT%H:%M:%SZ') AS hi FROM w`,
        );
        const [row] = bounds.getRowObjectsJson() as { n: string; lo: string | null; hi: string | null }[];
        const records = Number(row?.n ?? 0);
        if (records < minRecords || !row?.lo || !row.hi) {
          return {
            status: 'insufficient',
            reason: `Insufficient data: ${records} < ${minRecords} records in the last ${windowDays} days`,
          };
        }
        await buildFeatures(conn, spec, source, windowDays);
        const manifest = await writeSplits(conn, deps, spec, input, tmp, {
          from: row.lo,
          to: row.hi,
          days: windowDays,
        });
        return ready(manifest);
      });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  };
}

async function buildFeatures(
  conn: DuckDBConnection,
  spec: ModelSpec,
  source: string,
  windowDays: number,
): Promise<void> {
  const t = sqlIdent(spec.timeColumn);
  const e = sqlIdent(spec.entityColumn);
  const lags = [];
  for (let lag = spec.lookback - 1; lag >= 0; lag--) {
    for (const f of spec.features) {
      const col = lag === 0 ? `${sqlIdent(f)}::DOUBLE` : `lag(${sqlIdent(f)}, ${lag}) OVER w`;
      lags.push(`${col} AS ${sqlIdent(`${f}_lag${lag}`)}`);
    }
  }
  const target = `lead(${sqlIdent(spec.target)}, ${spec.horizon}) OVER w`;
  const y =
    spec.task === 'classify'
      ? `CASE WHEN ${target} > ${spec.threshold} THEN 1.0 ELSE 0.0 END`
      : `${target}::DOUBLE`;
  const columns = featureColumns(spec).map(sqlIdent);
  await conn.run(
    `CREATE TEMP TABLE features AS
     SELECT * FROM (
       SELECT ${e}::VARCHAR AS entity, ${t}::TIMESTAMP AS time, ${lags.join(', ')},
              ${y} AS y, lead(${sqlIdent(spec.target)}, ${spec.horizon}) OVER w AS y_raw,
              lead(${t}, ${spec.horizon}) OVER w AS target_time
       FROM (SELECT * FROM ${source} WHERE ${t} > (SELECT max(${t}) FROM ${source}) - INTERVAL ${windowDays} DAY)
       WINDOW w AS (PARTITION BY ${e} ORDER BY ${t})
     ) WHERE y_raw IS NOT NULL AND ${columns.map((c) => `${c} IS NOT NULL`).join(' AND ')}`,
  );
}

async function writeSplits(
  conn: DuckDBConnection,
  deps: ActivityDeps,
  spec: ModelSpec,
  input: ExportInput,
  tmp: string,
  window: DatasetManifest['window'],
): Promise<DatasetManifest> {
  // A single time cut: every holdout row is later than every train row, and no train target
  // reaches into the holdout period.
  await conn.run(
    `CREATE TEMP TABLE split AS
     SELECT *, CASE WHEN time >= (SELECT quantile_disc(time, ${TRAIN_SHARE}) FROM features) THEN 'holdout'
                    WHEN target_time < (SELECT quantile_disc(time, ${TRAIN_SHARE}) FROM features) THEN 'train'
                    ELSE 'gap' END AS part
     FROM features`,
  );
  const columns = ['entity', 'time', ...featureColumns(spec), 'y'];
  const select = columns.map(sqlIdent).join(', ');
  const prefix = datasetKey(input.model, input.workflowId);
  const files = {} as DatasetManifest['files'];
  for (const part of ['train', 'holdout'] as const) {
    const file = path.join(tmp, `${part}.parquet`);
    await conn.run(
      `COPY (SELECT ${select} FROM split WHERE part = '${part}' ORDER BY time, entity) TO ${sqlString(file)} (FORMAT parquet)`,
    );
    const body = await fs.readFile(file);
    const key = `${prefix}/${part}.parquet`;
    await deps.store.put(key, body, { contentType: 'application/vnd.apache.parquet' });
    files[part] = { key, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.byteLength };
  }
  const stats = await conn.runAndReadAll(
    `SELECT part, count(*)::BIGINT AS n, strftime(min(time), '%Y-%m-%dT%H:%M:%SZ') AS lo, strftime(max(time), '%Y-%m-%dT%H:%M:%SZ') AS hi,
            avg(y) AS ym, coalesce(stddev_pop(y), 0) AS ys,
            ${spec.features.map((f, i) => `avg(${sqlIdent(`${f}_lag0`)}) AS m${i}, coalesce(stddev_pop(${sqlIdent(`${f}_lag0`)}), 0) AS s${i}`).join(', ')}
     FROM split WHERE part <> 'gap' GROUP BY part`,
  );
  const byPart = new Map(
    stats.getRowObjectsJson().map((r) => [String(r.part), r as Record<string, unknown>]),
  );
  const train = byPart.get('train');
  const holdout = byPart.get('holdout');
  if (!train || !holdout) {
    throw ApplicationFailure.nonRetryable(
      `The window of ${input.model} has too few time steps to split into train and holdout`,
      ErrorType.InvalidInput,
    );
  }
  const num = (v: unknown) => Number(v);
  const positive = (v: unknown) => (num(v) > 1e-12 ? num(v) : 1);
  const preprocessing: Preprocessing = {
    task: spec.task,
    timeColumn: spec.timeColumn,
    entityColumn: spec.entityColumn,
    features: spec.features,
    target: spec.target,
    threshold: spec.threshold,
    lookback: spec.lookback,
    horizon: spec.horizon,
    mean: spec.features.map((_, i) => num(train[`m${i}`])),
    std: spec.features.map((_, i) => positive(train[`s${i}`])),
    targetMean: spec.task === 'forecast' ? num(train.ym) : 0,
    targetStd: spec.task === 'forecast' ? positive(train.ys) : 1,
  };
  const manifest: DatasetManifest = {
    model: input.model,
    workflowId: input.workflowId,
    createdAt: new Date().toISOString(),
    window,
    rows: { train: num(train.n), holdout: num(holdout.n) },
    columns,
    timeRange: {
      trainFrom: String(train.lo),
      trainTo: String(train.hi),
      holdoutFrom: String(holdout.lo),
      holdoutTo: String(holdout.hi),
    },
    preprocessing,
    files,
  };
  // The manifest goes last: its presence means the dataset is complete.
  await putJson(deps.store, `${prefix}/manifest.json`, manifest);
  return manifest;
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
