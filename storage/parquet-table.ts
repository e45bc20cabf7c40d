import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sqlIdent, sqlString, withDuckDb } from './duckdb';

/** One column of a table to write: its name, Parquet type and values (one per row). */
export type TableColumn =
  | { name: string; type: 'VARCHAR'; value: (row: number) => string }
  | { name: string; type: 'BIGINT' | 'DOUBLE' | 'FLOAT'; values: ArrayLike<number> };

/**
 * Writes columns as one Parquet file (zstd) through DuckDB and returns its bytes, for code outside
 * storage/ that has typed arrays to hand to other languages (the feature frame of docs/trainers.md).
 * BIGINT values are whole numbers below 2^53 (epoch microseconds).
 */
export async function parquetTable(rows: number, columns: readonly TableColumn[]): Promise<Uint8Array> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'retrain-parquet-'));
  try {
    const file = path.join(tmp, 'table.parquet');
    await withDuckDb(async (conn) => {
      const defs = columns.map((c) => `${sqlIdent(c.name)} ${c.type}`).join(', ');
      await conn.run(`CREATE TABLE frame (${defs})`);
      const appender = await conn.createAppender('frame');
      for (let r = 0; r < rows; r++) {
        for (const column of columns) {
          if (column.type === 'VARCHAR') appender.appendVarchar(column.value(r));
          else {
            const v = column.values[r] as number;
            if (column.type === 'BIGINT') appender.appendBigInt(BigInt(Math.round(v)));
            else if (column.type === 'DOUBLE') appender.appendDouble(v);
            else appender.appendFloat(v);
          }
        }
        appender.endRow();
      }
      appender.closeSync();
      await conn.run(`COPY frame TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`);
    });
    return new Uint8Array(await fs.readFile(file));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
