import type { BufferMaintenance } from '../common/buffer-maintenance';
import type { ActivityDeps } from './deps';

/** Days the buffer keeps when the deps do not say (the `BUFFER_RETENTION_DAYS` default). */
const DEFAULT_RETENTION_DAYS = 60;

/**
 * `compactBuffer`: one model's buffer maintenance, in the store — its days of several parts merged
 * into one each, then retention (`BUFFER_RETENTION_DAYS`) applied. A buffer on a host's disk is left
 * alone: its writers trim it after every flush.
 */
export function createCompactBuffer(deps: ActivityDeps) {
  return async ({ model }: { model: string }): Promise<BufferMaintenance> => {
    const compaction = await deps.buffer.compact(model);
    if (!compaction)
      return { model, inStore: false, compactedDays: [], partsBefore: 0, partsAfter: 0, expiredDays: [] };
    const expiredDays = await deps.buffer.applyRetention(
      model,
      deps.bufferRetentionDays ?? DEFAULT_RETENTION_DAYS,
    );
    return {
      model,
      inStore: true,
      compactedDays: compaction.days,
      partsBefore: compaction.partsBefore,
      partsAfter: compaction.partsAfter,
      expiredDays,
    };
  };
}
