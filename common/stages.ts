import type { TrialRecord } from './artefacts';
import type { Gate, GateMetric, Hyperparams, Task } from './model-spec';
import type { Device } from './trainer-kinds';

// Payloads between stages: small JSON with store keys, never tensors or weights.

/**
 * Whether training started from production's weights (`from`: its version) or from scratch, and why
 * (`skipped`: incremental off, no production yet, or a mismatch of architecture, inputs or shapes).
 */
export type WarmStart = { from: string } | { skipped: string };

/** A {@link WarmStart} in words, as run summaries, training-status and the dashboard show it. */
export function describeWarmStart(warmStart: WarmStart): string {
  return 'from' in warmStart ? `warm start from ${warmStart.from}` : `from scratch: ${warmStart.skipped}`;
}

export interface ExportInput {
  model: string;
  workflowId: string;
  windowDays?: number;
  minRecords?: number;
  /** Share of the window trained on (the run's `trainShare`); absent: the spec's, else 0.8. */
  trainShare?: number;
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
  /** The spec's gate metric, which ranks forecast trials (absent: auto). */
  gateMetric?: GateMetric;
  /** Trial number (1-based) when the run searches hyperparameters; checkpoints go under `trial-<n>/`. */
  trial?: number;
}

/** What the python trainer reads of the hyperparameters (docs/trainers.md "Input"). */
export interface KindHyperparams {
  architecture: string;
  params: Record<string, unknown>;
  seed: number;
  device?: Device;
}

/**
 * `trainModel` input of a trainer outside TypeScript (docs/trainers.md "Input"): the tfjs input
 * with the task and checkpoint prefix spelt out, and only the hyperparameters its kinds read.
 */
export interface PythonTrainInput extends Omit<TrainInput, 'hyperparams'> {
  task: Task;
  hyperparams: KindHyperparams;
  checkpointPrefix: string;
}

export interface TrainResult {
  /**
   * Store prefix holding the trained candidate: model.json and weights.bin (tfjs), or model.onnx,
   * candidate.json and preprocessing.json (onnx).
   */
  candidateKey: string;
  /** Absent: tfjs (results of trainers before formats). */
  format?: 'tfjs' | 'onnx';
  /** Where it trained (python trainer): `cuda` only when the GPU really ran it. */
  device?: 'cpu' | 'cuda';
  backend: string;
  epochs: number;
  loss: number;
  /** Validation loss of the candidate (the final epoch's weights): compare trials on this. */
  valLoss: number | null;
  /** Lowest validation loss of any epoch, and that epoch; null without a holdout. */
  bestValLoss?: number | null;
  bestEpoch?: number | null;
  samplesPerSec: number;
  /** The final weights' holdout figure under the gate's metric, as validateModel figures it (every task, both trainers). */
  holdoutScore?: { metric: string; value: number };
  warmStart: WarmStart;
  /** Checkpoint key this attempt resumed from, when it did. */
  resumedFrom?: string;
}

export interface ValidateInput {
  model: string;
  datasetKey: string;
  candidateKey: string;
  /** The gate of the spec the run loaded, so a spec edited mid-run cannot change it; absent: read the spec. */
  gate?: Gate;
}

export type MetricSet = Record<string, number>;

/**
 * Which comparison decided the gate: the candidate's figure was not finite, or it was set against the
 * best naive baseline (`against` its name), or against production (`against` its version, `limit`
 * the tolerance bound); `noProduction` when nothing stood against it.
 */
export interface GateDecision {
  by: 'notFinite' | 'baseline' | 'production' | 'noProduction';
  against?: string;
  candidate: number;
  reference?: number;
  limit?: number;
}

export interface ValidateResult {
  passed: boolean;
  reason: string;
  metric: string;
  decision: GateDecision;
  gate: Gate;
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
  /** The trial log of a multi-trial run, written into the version's metadata. */
  trials?: TrialRecord[];
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
  /** Tries it took (reloads back off and retry while a failure may pass). */
  attempts?: number;
}

/** A server found in the fleet's directory that a promotion left out: it could not be reached. */
export interface SkippedServer {
  url: string;
  /** Why: the network error of its last try (it follows the alias by its poll once back). */
  reason: string;
}

export interface ReloadResult {
  servers: ServerReload[];
  /** Announced servers that could not be reached; absent when none was skipped. */
  skipped?: SkippedServer[];
}

/**
 * When an activity ran, by its own clock, from its first line to its result: the workflow sets its
 * run's wall time against these to tell the time spent orchestrating from the time spent working.
 */
export interface ActivityTiming {
  startedAt: string;
  endedAt: string;
  /** Duration in milliseconds (monotonic clock, 0.1 ms resolution). */
  ms: number;
}

/**
 * An activity's result with its {@link ActivityTiming}. Every activity of this version sets it; the
 * field is optional because histories recorded before activities timed themselves lack it.
 */
export type Timed<T> = T & { timing?: ActivityTiming };
