import path from 'node:path';
import type { DataBuffer } from './buffer';
import { sqlString, withDuckDb } from './duckdb';

/** 3 million US flights, Jan-Jun 2001, shipped in the vega-datasets npm package. */
export const FLIGHTS_PARQUET = path.join(
  path.dirname(require.resolve('vega-datasets')),
  '..',
  'data',
  'flights-3m.parquet',
);

export interface FlightsOptions {
  /** Keep the N busiest origin airports (all when absent). */
  topAirports?: number;
  /** Keep only flights on or after this day (YYYY-MM-DD). */
  fromDay?: string;
  /** Keep only flights before this day (YYYY-MM-DD). */
  beforeDay?: string;
  /** Bucket length in minutes, dividing a day. @default 60 */
  bucketMinutes?: number;
  /**
   * One row for every bucket of every airport kept, from the first to the last bucket with flights,
   * as a server reports every interval even when idle: no flights is 0 flights, delay and late share 0.
   * @default false
   */
  everyBucket?: boolean;
}

/**
 * SQL for metrics per origin airport and bucket (hourly by default), as a fleet's server metrics
 * would look: `ts`, `origin`, `flights`, `mean_delay` (minutes) and `late_share` (share over 15
 * minutes late).
 */
export function flightMetricsSql(options: FlightsOptions = {}): string {
  const { topAirports, fromDay, beforeDay, bucketMinutes = 60, everyBucket = false } = options;
  if (!Number.isInteger(bucketMinutes) || bucketMinutes < 1 || 1440 % bucketMinutes !== 0)
    throw new Error(`bucketMinutes must divide a day into whole minutes, not ${bucketMinutes}`);
  const source = `read_parquet(${sqlString(FLIGHTS_PARQUET)})`;
  const filters = [fromDay ? `date >= TIMESTAMP ${sqlString(fromDay)}` : 'TRUE'];
  if (beforeDay) filters.push(`date < TIMESTAMP ${sqlString(beforeDay)}`);
  if (topAirports) {
    filters.push(
      `origin IN (SELECT origin FROM ${source} GROUP BY origin ORDER BY count(*) DESC LIMIT ${Math.floor(topAirports)})`,
    );
  }
  const bucket =
    bucketMinutes === 60 ? `date_trunc('hour', date)` : `time_bucket(INTERVAL ${bucketMinutes} MINUTE, date)`;
  const metrics = `SELECT ${bucket} AS ts, origin, count(*)::DOUBLE AS flights,
                 avg(delay)::DOUBLE AS mean_delay, avg(CASE WHEN delay > 15 THEN 1.0 ELSE 0.0 END)::DOUBLE AS late_share
          FROM ${source} WHERE ${filters.join(' AND ')}
          GROUP BY 1, 2`;
  if (!everyBucket) return `${metrics} ORDER BY 1, 2`;
  return `WITH m AS (${metrics}),
          grid AS (SELECT b.ts, a.origin
                   FROM (SELECT unnest(generate_series(min(ts), max(ts), INTERVAL ${bucketMinutes} MINUTE)) AS ts FROM m) b,
                        (SELECT DISTINCT origin FROM m) a)
          SELECT g.ts, g.origin, coalesce(m.flights, 0)::DOUBLE AS flights,
                 coalesce(m.mean_delay, 0)::DOUBLE AS mean_delay, coalesce(m.late_share, 0)::DOUBLE AS late_share
          FROM grid g LEFT JOIN m USING (ts, origin) ORDER BY 1, 2`;
}

/** The demo metrics' (time, entity) columns: the buffer skips hours it already holds. */
export const FLIGHTS_KEY = { timeColumn: 'ts', entityColumn: 'origin' };

/**
 * Loads the hourly flight metrics into the buffer of each model through the buffer's atomic,
 * deduplicating write, so loading twice adds nothing; returns the rows per model.
 */
export async function loadFlightsIntoBuffer(
  buffer: DataBuffer,
  models: string[],
  options: FlightsOptions = {},
): Promise<number> {
  return withDuckDb(async (conn) => {
    await conn.run(`SET TimeZone = 'UTC'`);
    await conn.run(`CREATE TEMP TABLE hourly AS ${flightMetricsSql(options)}`);
    for (const model of models) await buffer.appendQuery(conn, model, 'SELECT * FROM hourly', FLIGHTS_KEY);
    const count = await conn.runAndReadAll('SELECT count(*)::BIGINT AS n FROM hourly');
    return Number(count.getRowObjectsJson()[0]?.n ?? 0);
  });
}
