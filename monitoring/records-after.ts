import type { ModelSpec } from '../common/model-spec';
import type { DataBuffer } from '../storage/buffer';
import { sqlIdent, sqlString, withDuckDb } from '../storage/duckdb';

/**
 * Buffer records of `spec`'s model after `to`, the newest record time of a dataset's window: what a
 * run that trained or judged that window has not seen. `to` has whole seconds, so a record up to a
 * second after it still belongs to the window (as in live-metrics' count since training).
 */
export async function recordsAfter(buffer: DataBuffer, spec: ModelSpec, to: string): Promise<number> {
  const source = await buffer.parquetSource(spec.name);
  if (!source) return 0;
  const t = sqlIdent(spec.timeColumn);
  return withDuckDb(async (conn) => {
    const counted = await conn.runAndReadAll(
      `SELECT count(*)::BIGINT AS n FROM ${source}
       WHERE ${t}::TIMESTAMP >= TIMESTAMP ${sqlString(to)} + INTERVAL 1 SECOND`,
    );
    return Number(counted.getRowObjectsJson()[0]?.n ?? 0);
  });
}
