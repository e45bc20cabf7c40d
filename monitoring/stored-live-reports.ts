import { z } from 'zod';
import { ModelNameSchema } from '../common/model-spec';
import type { BlobStore } from '../storage/blob-store';
import { getJson, putJson } from '../storage/open-store';
import type { LiveReport } from './live-metrics';

const StoredSchema = z.object({
  measuredAt: z.string(),
  report: z.custom<LiveReport>((value) => typeof value === 'object' && value !== null && 'versions' in value),
});

/** A live report as the monitor stored it, and when it measured it. */
export type StoredLiveReport = z.infer<typeof StoredSchema>;

/**
 * The live reports the monitor's trigger checks measure, one per model at `live/<model>.json` in the
 * store, so that servers and the dashboard read the latest one instead of each scanning the
 * prediction log and the buffer again.
 */
export class StoredLiveReports {
  constructor(private readonly store: BlobStore) {}

  /** Keeps `report`, measured at `at`, as the model's latest. */
  async put(report: LiveReport, at = new Date()): Promise<void> {
    await putJson(this.store, this.key(report.model), { measuredAt: at.toISOString(), report });
  }

  /** The model's latest stored report, or undefined when the monitor never measured it. */
  async latest(model: string): Promise<StoredLiveReport | undefined> {
    return (await getJson(this.store, this.key(model), StoredSchema))?.value;
  }

  private key(model: string): string {
    return `live/${ModelNameSchema.parse(model)}.json`;
  }
}
