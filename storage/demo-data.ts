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
}

/**
 * SQL for hourly metrics per origin airport, as a fleet's server metrics would look:
 * `ts`, `origin`, `flights`, `mean_delay` (minutes) and `late_share` (share over 15 minutes late).
 */
export function hourlyFlightMetricsSql({ topAirports, fromDay }: FlightsOptions = {}): string {
  const source = `read_parquet(${sqlString(FLIGHTS_PARQUET)})`;
  const filters = [fromDay ? `date >= TIMESTAMP ${sqlString(fromDay)}` : 'TRUE'];
  if (topAirports) {
    filters.push(
      `origin IN (SELECT origin FROM ${source} GROUP BY origin ORDER BY count(*) DESC LIMIT ${Math.floor(topAirports)})`,
    );
  }
  return `SELECT date_trunc('hour', date) AS ts, origin, count(*)::DOUBLE AS flights,
                 avg(delay)::DOUBLE AS mean_delay, avg(CASE WHEN delay > 15 THEN 1.0 ELSE 0.0 END)::DOUBLE AS late_share
          FROM ${source} WHERE ${filters.join(' AND ')}
          GROUP BY 1, 2 ORDER BY 1, 2`;
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
    await conn.run(`CREATE TEMP TABLE hourly AS ${hourlyFlightMetricsSql(options)}`);
    for (const model of models) await buffer.appendQuery(conn, model, 'SELECT * FROM hourly', FLIGHTS_KEY);
    const count = await conn.runAndReadAll('SELECT count(*)::BIGINT AS n FROM hourly');
    return Number(count.getRowObjectsJson()[0]?.n ?? 0);
  });
}
