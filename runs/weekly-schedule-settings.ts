// Free of the Temporal client, so the command line's help can name these without loading it.

/** Sunday 02:00 UTC: the weekly slot the retraining daemon documents, quiet for most fleets. */
export const WEEKLY_CRON = '0 2 * * 0';

/** What a slot does while the previous run still goes; `skip`, the default, never trains one model twice at once. */
export const OVERLAP_NAMES = [
  'skip',
  'buffer-one',
  'buffer-all',
  'cancel-other',
  'terminate-other',
  'allow-all',
] as const;

/** One of {@link OVERLAP_NAMES}. */
export type OverlapName = (typeof OVERLAP_NAMES)[number];
