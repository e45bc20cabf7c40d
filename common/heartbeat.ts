import { z } from 'zod';

/** What every `trainModel` heartbeat carries (a wire contract: readers parse it); a retry resumes from `checkpoint`. */
export const TrainHeartbeatSchema = z.object({
  /** Epochs completed. */
  epoch: z.number().int(),
  totalEpochs: z.number().int(),
  /** Batches done of the epoch in progress, out of `batches`. */
  batch: z.number().int(),
  batches: z.number().int(),
  pct: z.number(),
  loss: z.number().nullable(),
  valLoss: z.number().nullable(),
  samplesPerSec: z.number().nullable(),
  backend: z.string(),
  trial: z.number().int().optional(),
  /** Latest checkpoint (weights + optimiser state); `batch` > 0 for one saved inside an epoch. */
  checkpoint: z
    .object({ epoch: z.number().int(), batch: z.number().int().default(0), key: z.string() })
    .nullable(),
});
export type TrainHeartbeat = z.infer<typeof TrainHeartbeatSchema>;
