import type { Hyperparams } from './model-spec';

// Payloads between stages: small JSON with store keys, never tensors or weights.

export interface ExportInput {
  model: string;
  workflowId: string;
  windowDays?: number;
  minRecords?: number;
}

export type ExportResult =
  | { status: 'ready'; datasetKey: string; trainRows: number; holdoutRows: number; features: number }
  | { status: 'insufficient'; reason: string };

export interface TrainInput {
  model: string;
  workflowId: string;
  datasetKey: string;
  epochs: number;
  hyperparams: Hyperparams;
  incremental: boolean;
  /** Trial number (1-based) when the run searches hyperparameters; checkpoints go under `trial-<n>/`. */
  trial?: number;
}

export interface TrainResult {
  /** Store prefix holding the trained candidate's model.json and weights.bin. */
  candidateKey: string;
  backend: string;
  epochs: number;
  loss: number;
  valLoss: number | null;
  samplesPerSec: number;
  warmStart: { from: string } | { skipped: string };
}

export interface ValidateInput {
  model: string;
  datasetKey: string;
  candidateKey: string;
}

export type MetricSet = Record<string, number>;

export interface ValidateResult {
  passed: boolean;
  reason: string;
  metric: string;
  candidate: MetricSet;
  baselines: Record<string, MetricSet>;
  production?: { version: string; metrics: MetricSet };
}

export interface RegisterInput {
  model: string;
  workflowId: string;
  runId: string;
  datasetKey: string;
  candidateKey: string;
  hyperparams: Hyperparams;
  training: TrainResult;
  validation: ValidateResult;
}

export interface RegisterResult {
  version: string;
  previous: string | null;
}

export interface ReloadInput {
  model: string;
  version: string;
  previous: string | null;
  targets?: string[];
}

export interface ServerReload {
  url: string;
  ok: boolean;
  version?: string;
  error?: string;
}

export interface ReloadResult {
  servers: ServerReload[];
}
