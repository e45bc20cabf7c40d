import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { DatasetManifestSchema, preprocessingOf, type DatasetManifest } from '../common/artefacts';
import { ErrorType } from '../common/errors';
import type { ModelSpec } from '../common/model-spec';
import type { ExportInput, ExportResult } from '../common/stages';
import { sqlIdent, sqlString, withDuckDb, type DuckDBConnection } from '../storage/duckdb';
import { getJson, putJson } from '../storage/open-store';
import { checkReadiness } from '../storage/readiness';
import { DAY_BEFORE_COLUMN, datasetColumns, featureColumns, manifestKey } from './dataset-io';
import type { ActivityDeps } from './deps';
import { loadSpecOrFail } from './load-spec';

/** Share of the feature rows, by time, that trains; the rest is the holdout. */
const TRAIN_SHARE = 0.8;

/** DuckDB timestamps as manifest strings (whole seconds, UTC). */
const ISO_SECONDS = `'%Y-%m-%dT%H:%M:%SZ'`;

export function datasetKey(model: string, workflowId: string): string {
  return `datasets/${model}/${workflowId}`;
}

/**
 * Window -> lag features -> time-ordered train/holdout split -> Parquet + manifest in the store.
 * Idempotent per workflow: a retry returns the dataset the first attempt wrote.
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
      return await withDuckDb(async (conn) => {
        const readiness = await checkReadiness(conn, {
          model: input.model,
          glob: deps.buffer.glob(input.model),
          timeColumn: spec.timeColumn,
          windowDays,
          minRecords: input.minRecords ?? spec.minRecords,
          minDays: spec.minDays,
        });
        if (!readiness.ready || !readiness.from || !readiness.to) {
          return { status: 'insufficient', reason: readiness.reason };
        }
        const window = { from: readiness.from, to: readiness.to, days: windowDays };
        await buildFeatures(conn, spec, deps.buffer.glob(input.model), window);
        return ready(await writeSplits(conn, deps, spec, input, tmp, window));
      });
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  };
}

/**
 * One pass over the window that readiness counted (its oldest to newest record, so rows ingested
 * meanwhile do not slip in) into the temp table `features`, sorted by (time, entity) once so both
 * splits are written in that order without sorting again. Lags are row offsets within an entity
 * (its previous records in the window); `y_day_before` is a time-based lookup of the target at
 * `target_time` minus 24 hours, which may reach up to a day before the window.
 */
async function buildFeatures(
  conn: DuckDBConnection,
  spec: ModelSpec,
  glob: string,
  window: DatasetManifest['window'],
): Promise<void> {
  const from = `TIMESTAMP ${sqlString(window.from)}`;
  // `to` has whole seconds: the newest record may lie up to a second after it.
  const until = `TIMESTAMP ${sqlString(window.to)} + INTERVAL 1 SECOND`;
  const target = sqlIdent(spec.target);
  const raw = [...new Set([...spec.features, spec.target])]
    .filter((c) => c !== spec.timeColumn && c !== spec.entityColumn)
    .map(sqlIdent);
  const lags = [];
  for (let lag = spec.lookback - 1; lag >= 0; lag--) {
    for (const f of spec.features) {
      const col = lag === 0 ? `${sqlIdent(f)}::DOUBLE` : `lag(${sqlIdent(f)}, ${lag}) OVER w`;
      lags.push(`${col} AS ${sqlIdent(`${f}_lag${lag}`)}`);
    }
  }
  const lead = `lead(${target}, ${spec.horizon}) OVER w`;
  const y =
    spec.task === 'classify'
      ? `CASE WHEN ${lead} > ${spec.threshold} THEN 1.0 ELSE 0.0 END::DOUBLE`
      : `(${lead})::DOUBLE`;
  const complete = featureColumns(spec).map((c) => `${sqlIdent(c)} IS NOT NULL`);
  const t = sqlIdent(spec.timeColumn);
  const e = sqlIdent(spec.entityColumn);
  // Source columns keep their names until the last step, so no feature can clash with `entity`,
  // `time` or `y`; the buffer never stores `__retrain_*` columns. The day-before lookup joins the
  // narrow source rows before the window rather than the wide feature rows after it (cheaper),
  // and `lead` moves it to the target row. The buffer holds one row per (time, entity)
  // (DataBuffer skips keys it has), so the join never multiplies rows.
  await conn.run(
    `CREATE TEMP TABLE features AS
     WITH src AS (
       SELECT ${e}::VARCHAR AS ${e}, ${t}::TIMESTAMP AS ${t}, ${raw.join(', ')}
       FROM read_parquet(${sqlString(glob)}, hive_partitioning = false)
       WHERE ${t}::TIMESTAMP >= ${from} - INTERVAL 24 HOUR AND ${t}::TIMESTAMP < ${until}
     ),
     j AS (
       SELECT s.*, d.${target} AS __retrain_day_before
       FROM src s LEFT JOIN src d ON d.${e} = s.${e} AND d.${t} = s.${t} - INTERVAL 24 HOUR
       WHERE s.${t} >= ${from}
     ),
     l AS (
       SELECT ${e} AS entity, ${t} AS time, ${lags.join(', ')}, ${y} AS y, ${lead} AS y_raw,
              lead(${t}, ${spec.horizon}) OVER w AS target_time,
              (lead(__retrain_day_before, ${spec.horizon}) OVER w)::DOUBLE AS ${DAY_BEFORE_COLUMN}
       FROM j WINDOW w AS (PARTITION BY ${e} ORDER BY ${t})
     )
     SELECT * EXCLUDE (y_raw) FROM l
     WHERE y_raw IS NOT NULL AND ${complete.join(' AND ')}
     ORDER BY time, entity`,
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
  // reaches into the holdout period; rows in between (the "gap") go nowhere.
  const cutRows = await conn.runAndReadAll(
    `SELECT strftime(quantile_disc(time, ${TRAIN_SHARE}), '%Y-%m-%d %H:%M:%S.%f') AS cut FROM features`,
  );
  const cutValue = cutRows.getRowObjectsJson()[0]?.cut;
  const tooShort = () =>
    ApplicationFailure.nonRetryable(
      `The window of ${input.model} has too few time steps to split into train and holdout`,
      ErrorType.InvalidInput,
    );
  if (typeof cutValue !== 'string') throw tooShort();
  const cut = `TIMESTAMP ${sqlString(cutValue)}`;
  const where = { train: `target_time < ${cut}`, holdout: `time >= ${cut}` };

  const stats = await conn.runAndReadAll(
    `SELECT ${(['train', 'holdout'] as const)
      .map(
        (part) =>
          `count(*) FILTER (${where[part]})::BIGINT AS ${part}_n,
           strftime(min(time) FILTER (${where[part]}), ${ISO_SECONDS}) AS ${part}_lo,
           strftime(max(time) FILTER (${where[part]}), ${ISO_SECONDS}) AS ${part}_hi`,
      )
      .join(', ')},
      avg(y) FILTER (${where.train}) AS ym, coalesce(stddev_pop(y) FILTER (${where.train}), 0) AS ys,
      ${spec.features
        .map((f, i) => {
          const c = sqlIdent(`${f}_lag0`);
          return `avg(${c}) FILTER (${where.train}) AS m${i}, coalesce(stddev_pop(${c}) FILTER (${where.train}), 0) AS s${i}`;
        })
        .join(', ')}
     FROM features`,
  );
  const s = (stats.getRowObjectsJson()[0] ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => Number(v);
  if (num(s.train_n) === 0 || num(s.holdout_n) === 0) throw tooShort();

  const columns = datasetColumns(spec);
  const select = columns.map(sqlIdent).join(', ');
  const prefix = datasetKey(input.model, input.workflowId);
  const file = (part: 'train' | 'holdout') => path.join(tmp, `${part}.parquet`);
  // `features` is already in (time, entity) order and DuckDB keeps insertion order on copy.
  const write = (part: 'train' | 'holdout') =>
    conn.run(
      `COPY (SELECT ${select} FROM features WHERE ${where[part]}) TO ${sqlString(file(part))} (FORMAT parquet)`,
    );
  const upload = async (part: 'train' | 'holdout') => {
    const body = await fs.readFile(file(part));
    const key = `${prefix}/${part}.parquet`;
    await deps.store.put(key, body, { contentType: 'application/vnd.apache.parquet' });
    return { key, sha256: createHash('sha256').update(body).digest('hex'), bytes: body.byteLength };
  };
  await write('train');
  // The train file uploads while DuckDB writes the holdout; both settle before either error
  // surfaces, so the connection is never closed under a running COPY.
  const [train, holdout] = await Promise.allSettled([upload('train'), write('holdout')]);
  if (holdout.status === 'rejected') throw holdout.reason;
  if (train.status === 'rejected') throw train.reason;
  const files: DatasetManifest['files'] = { train: train.value, holdout: await upload('holdout') };

  const positive = (v: unknown) => (num(v) > 1e-12 ? num(v) : 1);
  const preprocessing = preprocessingOf(spec, {
    mean: spec.features.map((_, i) => num(s[`m${i}`])),
    std: spec.features.map((_, i) => positive(s[`s${i}`])),
    targetMean: spec.task === 'forecast' ? num(s.ym) : 0,
    targetStd: spec.task === 'forecast' ? positive(s.ys) : 1,
  });
  const manifest: DatasetManifest = {
    model: input.model,
    workflowId: input.workflowId,
    createdAt: new Date().toISOString(),
    window,
    rows: { train: num(s.train_n), holdout: num(s.holdout_n) },
    columns,
    timeRange: {
      trainFrom: String(s.train_lo),
      trainTo: String(s.train_hi),
      holdoutFrom: String(s.holdout_lo),
      holdoutTo: String(s.holdout_hi),
    },
    preprocessing,
    files,
  };
  // The manifest goes last: its presence means the dataset is complete.
  await putJson(deps.store, manifestKey(prefix), manifest);
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
