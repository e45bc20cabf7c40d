import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlIdent } from './duckdb';

/** What {@link checkReadiness} needs: where the buffer is and the spec's (or the run's) window. */
export interface ReadinessInput {
  /** Model name, for the message about an empty buffer. */
  model: string;
  /** `DataBuffer.parquetSource(model)`: the model's committed part files, undefined when none. */
  source: string | undefined;
  timeColumn: string;
  windowDays: number;
  minRecords: number;
  /** Distinct UTC days with records the window must hold; 1 (the default) checks records alone. */
  minDays?: number;
}

/**
 * Whether the buffer holds enough data to train. `records` counts the rows in the window: the
 * `windowDays` before the newest timestamp (newer than `max - windowDays`). `from`/`to` are the
 * oldest and newest timestamp in it (`YYYY-MM-DDTHH:MM:SSZ`), null when the buffer is empty.
 */
export interface Readiness {
  ready: boolean;
  reason: string;
  records: number;
  /** Distinct UTC days with records in the window. */
  days: number;
  from: string | null;
  to: string | null;
}

/**
 * The one readiness rule, shared by `exportDataset` (not enough data -> `rejected`) and
 * `retrain stats` (`readyToTrain`), so the command line never promises a run the workflow refuses.
 * Sets the connection's TimeZone to UTC.
 */
export async function checkReadiness(conn: DuckDBConnection, input: ReadinessInput): Promise<Readiness> {
  const { model, source, timeColumn, windowDays, minRecords, minDays = 1 } = input;
  await conn.run(`SET TimeZone = 'UTC'`);
  if (source === undefined) {
    return {
      ready: false,
      reason: `Insufficient data: the buffer of ${model} is empty`,
      records: 0,
      days: 0,
      from: null,
      to: null,
    };
  }
  const t = sqlIdent(timeColumn);
  const reader = await conn.runAndReadAll(
    // The time column is read once: the newest timestamp and the window both come from it.
    `WITH a AS MATERIALIZED (SELECT ${t} FROM ${source}),
          w AS (SELECT ${t} FROM a WHERE ${t} > (SELECT max(${t}) FROM a) - INTERVAL ${windowDays} DAY)
     SELECT count(*)::BIGINT AS n, count(DISTINCT ${t}::DATE)::BIGINT AS d,
            strftime(min(${t}), '%Y-%m-%dT%H:%M:%SZ') AS lo,
            strftime(max(${t}), '%Y-%m-%dT%H:%M:%SZ') AS hi FROM w`,
  );
  const row = reader.getRowObjectsJson()[0] as
    { n: string; d: string; lo: string | null; hi: string | null } | undefined;
  const records = Number(row?.n ?? 0);
  const days = Number(row?.d ?? 0);
  const window = { records, days, from: row?.lo ?? null, to: row?.hi ?? null };
  if (records < minRecords) {
    return {
      ready: false,
      reason: `Insufficient data: ${records} < ${minRecords} records in the last ${windowDays} days`,
      ...window,
    };
  }
  if (days < minDays) {
    return {
      ready: false,
      reason: `Insufficient data: ${days} < ${minDays} days with records in the last ${windowDays} days`,
      ...window,
    };
  }
  const onDays = minDays > 1 ? ` on ${days} >= ${minDays} days` : '';
  return {
    ready: true,
    reason: `Ready: ${records} >= ${minRecords} records${onDays} in the last ${windowDays} days`,
    ...window,
  };
}
