import type { DuckDBConnection } from '@duckdb/node-api';

import type { BufferKey } from '../../storage/buffer';

/** The key of {@link buildHourlyBatch}'s rows. */
export const HOURLY_KEY: BufferKey = { timeColumn: 'ts', entityColumn: 'host' };

/**
 * A `BufferWriter.submit` build step: `hosts` x 24 hourly rows a day over `days` days from
 * 2024-01-01 (so one part file per day), the same rows on every call. Returns the row count.
 */
export function buildHourlyBatch(days: number, hosts: number) {
  return async (conn: DuckDBConnection, table: string): Promise<number> => {
    const rows = days * 24 * hosts;
    await conn.run(
      `CREATE TABLE ${table} AS
       SELECT TIMESTAMP '2024-01-01' + to_hours((i // ${hosts})::BIGINT) AS ts,
              'host-' || (i % ${hosts}) AS host,
              (i % 97)::DOUBLE AS cpu,
              0 AS __retrain_src,
              i + 1 AS __retrain_row
       FROM range(${rows}) t(i)`,
    );
    return rows;
  };
}
