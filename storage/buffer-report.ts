import type { ModelSpec } from '../common/model-spec';
import type { BufferStats, DataBuffer } from './buffer';
import { withDuckDb } from './duckdb';
import { checkReadiness, type Readiness } from './readiness';

/** A model's buffer figures and whether a run would get enough data: `retrain stats` and the daemon API's training-stats. */
export interface BufferReport {
  stats: BufferStats;
  readiness: Readiness;
}

/** Figures and readiness of `spec`'s buffer, with a run's window overrides when given. */
export async function bufferReport(
  buffer: DataBuffer,
  spec: ModelSpec,
  window: { windowDays?: number; minRecords?: number } = {},
): Promise<BufferReport> {
  const source = await buffer.parquetSource(spec.name);
  const [stats, readiness] = await Promise.all([
    buffer.stats(spec.name),
    withDuckDb((conn) =>
      checkReadiness(conn, {
        model: spec.name,
        source,
        timeColumn: spec.timeColumn,
        windowDays: window.windowDays ?? spec.windowDays,
        minRecords: window.minRecords ?? spec.minRecords,
        minDays: spec.minDays,
      }),
    ),
  ]);
  return { stats, readiness };
}
