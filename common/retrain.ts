import { z } from 'zod';
import type { TrialRecord } from './artefacts';
import { HyperparamsSchema, ModelNameSchema } from './model-spec';

export const RetrainInputSchema = z
  .object({
    model: ModelNameSchema,
    epochs: z.number().int().min(1).max(10000).optional(),
    /** Warm-start from the production model when the architecture matches. */
    incremental: z.boolean().default(true),
    windowDays: z.number().int().min(1).max(3650).optional(),
    minRecords: z.number().int().min(1).optional(),
    trials: z.number().int().min(1).max(64).default(1),
    hyperparams: HyperparamsSchema.partial().optional(),
    /** Inference servers to reload; defaults to the worker's RETRAIN_SERVING_URLS. */
    reloadTargets: z.array(z.url({ protocol: /^https?$/ })).optional(),
  })
  .strict();
export type RetrainInput = z.input<typeof RetrainInputSchema>;
export type RetrainRequest = z.output<typeof RetrainInputSchema>;

export const STAGES = [
  'exportDataset',
  'trainModel',
  'validateModel',
  'registerModel',
  'reloadServers',
] as const;
export type StageName = (typeof STAGES)[number];

export const StageRecordSchema = z.object({
  name: z.enum(STAGES),
  status: z.enum(['completed', 'rejected', 'failed', 'cancelled']),
  startedAt: z.string(),
  endedAt: z.string(),
  durationMs: z.number(),
  summary: z.string().optional(),
});
export type StageRecord = z.infer<typeof StageRecordSchema>;

export const RetrainStatusSchema = z.enum(['completed', 'rejected', 'cancelled']);

export interface RetrainResult {
  status: z.infer<typeof RetrainStatusSchema>;
  model: string;
  version?: string;
  reason?: string;
  metrics?: Record<string, number>;
  backend?: string;
  stages: StageRecord[];
}

/** What `progressQuery` returns; `stage` is `starting` before the first and `done` after the last. */
export interface RetrainProgress {
  stage: StageName | 'starting' | 'done';
  overallPct: number;
  epoch: number;
  totalEpochs: number;
  loss: number | null;
  valLoss: number | null;
  samplesPerSec: number | null;
  trial?: number;
  /** Every trial of a multi-trial run (`trials > 1`), in trial order. */
  trials?: TrialProgress[];
  /** The trial with the lowest validation loss so far (training loss when there is no holdout). */
  best?: { trial: number; score: number };
  version?: string;
  status: 'running' | RetrainResult['status'];
  updatedAt: string;
}

/** One trial as the workflow sees it: `queued` until its first epoch report arrives. */
export interface TrialProgress extends Omit<TrialRecord, 'status'> {
  status: TrialRecord['status'] | 'queued' | 'running';
  epoch: number;
}
