import type { ModelSpec } from '../common/model-spec';
import type { MetricSet } from '../common/stages';
import { classifyMetrics, forecastMetrics, populationStability } from '../ml/metrics';
import type { DataBuffer } from '../storage/buffer';
import { forEachChunk, sqlIdent, sqlString, withDuckDb } from '../storage/duckdb';
import type { PredictionLog } from '../storage/prediction-log';
import type { ModelRegistry } from '../storage/registry';

/** Live figures of one set of predictions, beside the naive baselines on the same rows. */
export interface LiveFigures {
  predictions: number;
  metrics: MetricSet;
  baselines: Record<string, MetricSet>;
}

export interface VersionLive {
  version: string;
  /** The version's holdout figure under the live metric, from its metadata (null when it has none). */
  holdout: number | null;
  /** Every prediction of the version whose actual has arrived. */
  all: LiveFigures;
  /** Those whose target time lies in the last `windowDays` days before the newest one. */
  window: LiveFigures;
  /** Per UTC day of the target time, oldest first. */
  days: ({ day: string } & LiveFigures)[];
}

/** What changed since the production version's training window ended. */
export interface SinceTraining {
  version: string;
  /** The window its dataset was exported from. */
  trainedOn: { from: string; to: string };
  /** Buffer records after that window. */
  newRecords: number;
  /**
   * Per feature, the population stability index of the records after the window against those in
   * it, over the deciles of the window; null without records on either side.
   */
  drift: Record<string, number | null>;
}

export interface LiveReport {
  model: string;
  /** Absent before the first registration. */
  production?: SinceTraining;
  /** The live gate metric: MAE for forecasts, F1 for classifiers. */
  metric: 'mae' | 'f1';
  windowDays: number;
  versions: VersionLive[];
}

const DAY_MS = 86_400_000;

/** One prediction joined with what happened: its actual and the naive forecasts for the same target. */
interface Joined {
  version: string;
  targetMs: number;
  value: number;
  actual: number;
  last: number;
  dayBefore: number;
}

/**
 * The live error of each version of `spec`'s model: its logged predictions joined with the actuals
 * the buffer received since. A prediction's target is the row at its `for` time (models with a
 * frequency) or the entity's record `horizon` records after its newest input row. Of several
 * answers for one (version, entity, target) the first counts: a later /predict with past timestamps
 * (anyone's, once the actual is known) cannot rewrite the live figures or the triggers read from them. Rows count when the actual and the
 * last value (the target at the newest input row) are both in the buffer, so model and baselines
 * are scored on the same rows; `sameHourDayBefore` falls back to the last value as in validation.
 */
export async function liveMetrics(deps: {
  spec: ModelSpec;
  buffer: DataBuffer;
  predictionLog: Pick<PredictionLog, 'source'>;
  registry: ModelRegistry;
  windowDays?: number;
}): Promise<LiveReport> {
  const { spec, windowDays = 7 } = deps;
  const metric = spec.task === 'forecast' ? 'mae' : 'f1';
  const [predictions, actuals] = await Promise.all([
    deps.predictionLog.source(spec.name),
    deps.buffer.parquetSource(spec.name),
  ]);
  const joined = predictions && actuals ? await joinActuals(spec, predictions, actuals) : [];
  const versions = [...new Set(joined.map((j) => j.version))].sort(
    (a, b) => Number(a.slice(1)) - Number(b.slice(1)) || a.localeCompare(b),
  );
  const score = (rows: Joined[]): LiveFigures => scoreRows(spec, rows);
  const production = actuals ? await sinceTraining(spec, deps.registry, actuals) : undefined;
  return {
    model: spec.name,
    ...(production ? { production } : {}),
    metric,
    windowDays,
    versions: await Promise.all(
      versions.map(async (version) => {
        const rows = joined.filter((j) => j.version === version);
        // Rows come in target order: the last is the newest, and days follow each other.
        const newest = (rows[rows.length - 1] as Joined).targetMs;
        const byDay = new Map<string, Joined[]>();
        for (const r of rows) {
          const day = new Date(r.targetMs).toISOString().slice(0, 10);
          const group = byDay.get(day);
          if (group) group.push(r);
          else byDay.set(day, [r]);
        }
        const meta = await deps.registry.getMetadata(spec.name, version).catch(() => undefined);
        return {
          version,
          holdout: meta?.metrics[metric] ?? null,
          all: score(rows),
          window: score(rows.filter((r) => r.targetMs > newest - windowDays * DAY_MS)),
          days: [...byDay.entries()].map(([day, dayRows]) => ({ day, ...score(dayRows) })),
        };
      }),
    ),
  };
}

function scoreRows(spec: ModelSpec, rows: Joined[]): LiveFigures {
  const actual = rows.map((r) => r.actual);
  const last = rows.map((r) => r.last);
  const dayBefore = rows.map((r) => (Number.isFinite(r.dayBefore) ? r.dayBefore : r.last));
  const above = (v: number) => (v > (spec.threshold ?? 0) ? 1 : 0);
  // Classifiers: actuals and naive forecasts as labels on the threshold, the model's as probabilities.
  const labels = actual.map(above);
  const score =
    spec.task === 'classify'
      ? (predicted: number[], naive: boolean) =>
          classifyMetrics(labels, naive ? predicted.map(above) : predicted)
      : (predicted: number[]) => forecastMetrics(actual, predicted);
  return {
    predictions: rows.length,
    metrics: score(
      rows.map((r) => r.value),
      false,
    ),
    baselines: { lastValue: score(last, true), sameHourDayBefore: score(dayBefore, true) },
  };
}

async function joinActuals(spec: ModelSpec, predictions: string, actuals: string): Promise<Joined[]> {
  const { entityColumn, target } = spec;
  // Tabular models are not followed live yet: their actual is the label of a later row of the same key.
  if (entityColumn === undefined || target === undefined || spec.horizon === 0) return [];
  const e = sqlIdent(entityColumn);
  const t = sqlIdent(spec.timeColumn);
  const y = sqlIdent(target);
  const sql = `
    WITH p AS (
      SELECT version, entity, time, "for", value, predicted_at FROM ${predictions}
      QUALIFY row_number() OVER (PARTITION BY version, entity, coalesce("for", time) ORDER BY predicted_at, value) = 1
    ),
    b AS (
      SELECT ${e}::VARCHAR AS entity, ${t}::TIMESTAMP AS ts, ${y}::DOUBLE AS y,
             lead(${y}::DOUBLE, ${spec.horizon}) OVER w AS y_lead, lead(${t}::TIMESTAMP, ${spec.horizon}) OVER w AS ts_lead
      FROM ${actuals} WINDOW w AS (PARTITION BY ${e}::VARCHAR ORDER BY ${t})
    ),
    j AS (
      SELECT p.version, p.value, b.y AS last,
             CASE WHEN p."for" IS NULL THEN b.y_lead ELSE a.y END AS actual,
             CASE WHEN p."for" IS NULL THEN b.ts_lead ELSE p."for" END AS target, p.entity
      FROM p JOIN b ON b.entity = p.entity AND b.ts = p.time
      LEFT JOIN b a ON a.entity = p.entity AND a.ts = p."for"
    )
    SELECT j.version, epoch_ms(j.target)::DOUBLE AS target_ms, j.value, j.actual, j.last,
           coalesce(d.y, 'NaN'::DOUBLE) AS day_before
    FROM j LEFT JOIN b d ON d.entity = j.entity AND d.ts = j.target - INTERVAL 24 HOUR
    WHERE j.actual IS NOT NULL AND j.last IS NOT NULL AND isfinite(j.value)
    ORDER BY target_ms, j.entity`;
  const rows: Joined[] = [];
  await withDuckDb((conn) =>
    forEachChunk(conn, sql, (chunk) => {
      const [target, value, actual, last, dayBefore] = [1, 2, 3, 4, 5].map((c) => chunk.doubles(c));
      for (let r = 0; r < chunk.rows; r++)
        rows.push({
          version: chunk.text(0, r) ?? '',
          targetMs: target![r] as number,
          value: value![r] as number,
          actual: actual![r] as number,
          last: last![r] as number,
          dayBefore: dayBefore![r] as number,
        });
    }),
  );
  return rows;
}

const DECILES = Array.from({ length: 9 }, (_, i) => (i + 1) / 10);

/** New records and feature drift since the production version's training window (see {@link SinceTraining}). */
async function sinceTraining(
  spec: ModelSpec,
  registry: ModelRegistry,
  actuals: string,
): Promise<SinceTraining | undefined> {
  const alias = await registry.getAlias(spec.name);
  if (!alias) return undefined;
  const meta = await registry.getMetadata(spec.name, alias.value.version);
  if (!meta) return undefined;
  const { from, to } = meta.dataset.window;
  const t = sqlIdent(spec.timeColumn);
  // The window's `to` has whole seconds: its newest record may lie up to a second after it.
  const until = `TIMESTAMP ${sqlString(to)} + INTERVAL 1 SECOND`;
  return withDuckDb(async (conn) => {
    const counted = await conn.runAndReadAll(
      `SELECT count(*)::BIGINT AS n FROM ${actuals} WHERE ${t}::TIMESTAMP >= ${until}`,
    );
    const drift: Record<string, number | null> = {};
    for (const feature of spec.features) {
      const f = sqlIdent(feature);
      const bins = await conn.runAndReadAll(
        `WITH src AS (SELECT ${t}::TIMESTAMP AS ts, ${f}::DOUBLE AS v FROM ${actuals}
                      WHERE ${t}::TIMESTAMP >= TIMESTAMP ${sqlString(from)} AND isfinite(${f}::DOUBLE)),
              q AS (SELECT quantile_cont(v, [${DECILES.join(', ')}]) AS cuts FROM src WHERE ts < ${until})
         SELECT (ts >= ${until}) AS recent, len(list_filter(q.cuts, c -> c < v))::INTEGER AS bin, count(*)::DOUBLE AS n
         FROM src, q WHERE q.cuts IS NOT NULL GROUP BY ALL`,
      );
      const histogram = { reference: new Array<number>(10).fill(0), recent: new Array<number>(10).fill(0) };
      for (const row of bins.getRowObjectsJson() as { recent: boolean; bin: number; n: number }[])
        histogram[row.recent ? 'recent' : 'reference'][Number(row.bin)] = Number(row.n);
      const psi = populationStability(histogram.reference, histogram.recent);
      drift[feature] = Number.isFinite(psi) ? psi : null;
    }
    return {
      version: alias.value.version,
      trainedOn: { from, to },
      newRecords: Number(counted.getRowObjectsJson()[0]?.n ?? 0),
      drift,
    };
  });
}
