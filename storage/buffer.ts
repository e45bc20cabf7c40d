import fs from 'node:fs/promises';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { ModelNameSchema } from '../common/model-spec';
import { sqlIdent, sqlString } from './duckdb';

/**
 * The data buffer: per model, a directory of daily Parquet part files
 * (`<dir>/<model>/day=YYYY-MM-DD/part-<uuid>.parquet`). Days are appended to with new part files,
 * never rewritten.
 */
export class DataBuffer {
  constructor(readonly dir: string) {}

  modelDir(model: string): string {
    return path.join(this.dir, ModelNameSchema.parse(model));
  }

  /** Glob for DuckDB's read_parquet over every part file of a model. */
  glob(model: string): string {
    return path.join(this.modelDir(model), 'day=*', '*.parquet');
  }

  async hasData(model: string): Promise<boolean> {
    try {
      const days = await fs.readdir(this.modelDir(model));
      return days.some((d) => d.startsWith('day='));
    } catch {
      return false;
    }
  }

  /** Appends the rows of a SQL query as new part files, one directory per UTC day of `timeColumn`. */
  async appendQuery(conn: DuckDBConnection, model: string, query: string, timeColumn: string): Promise<void> {
    const target = this.modelDir(model);
    await fs.mkdir(target, { recursive: true });
    await conn.run(`SET TimeZone = 'UTC'`);
    await conn.run(
      `COPY (SELECT *, strftime(${sqlIdent(timeColumn)}, '%Y-%m-%d') AS day FROM (${query}))
       TO ${sqlString(target)} (FORMAT parquet, PARTITION_BY (day), APPEND, FILENAME_PATTERN 'part-{uuid}')`,
    );
  }
}
