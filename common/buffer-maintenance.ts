/** What one model's buffer maintenance did (the `compactBuffer` activity's result). */
export interface BufferMaintenance {
  model: string;
  /** False for a buffer on a host's disk (`RETRAIN_BUFFER_IN_STORE` not set): nothing is done there. */
  inStore: boolean;
  /** Days merged into one part each. */
  compactedDays: string[];
  partsBefore: number;
  partsAfter: number;
  /** Days retention deleted (counted back from the model's newest day). */
  expiredDays: string[];
  /** Why its maintenance failed (its workflow says more); the others went on. */
  error?: string;
}

/** How often the deployment's buffer maintenance runs, unless its schedule is changed. */
export const BUFFER_MAINTENANCE_EVERY = '24h';

/** Models whose maintenance runs at once. */
export const BUFFER_MAINTENANCE_CONCURRENCY = 4;
